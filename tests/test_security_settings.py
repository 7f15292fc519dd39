"""Unit tests of the hardening settings (no database): lists, throttling budgets, token and body limits."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from postboard.config import Settings
from tests.live_server import free_port, run_postboard

LIMIT_SETTINGS = {
    "login_limit_per_account": "5/minute;100/hour",
    "login_limit_per_address": "50/minute",
    "register_limit_per_address": "10/minute;100/hour",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the developer's environment, and a working directory without a `.env`."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def refused_settings(error: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    """The settings a validation error names."""
    return [".".join(map(str, problem["loc"])) for problem in error.value.errors()]


# --- comma-separated lists ------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["CORS_ORIGINS", "TRUSTED_PROXIES"])
def test_lists_default_to_empty(variable: str) -> None:
    assert getattr(Settings(), variable.lower()) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://app.example", ["https://app.example"]),
        ("https://a.example,https://b.example", ["https://a.example", "https://b.example"]),
        (" https://a.example , https://b.example ", ["https://a.example", "https://b.example"]),
        ("https://a.example,,https://b.example,", ["https://a.example", "https://b.example"]),
        ("*", ["*"]),
        ("", []),
        (" , ", []),
    ],
)
def test_cors_origins_are_read_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)

    assert Settings().cors_origins == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.1", ["10.0.0.1"]),
        ("10.0.0.1, 10.0.0.2", ["10.0.0.1", "10.0.0.2"]),
        ("10.0.0.0/8,,127.0.0.1 ,", ["10.0.0.0/8", "127.0.0.1"]),
        ("", []),
    ],
)
def test_trusted_proxies_are_read_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", raw)

    assert Settings().trusted_proxies == expected


# --- RATE_LIMITS and the budgets ------------------------------------------------------------------------


def test_throttling_is_on_by_default() -> None:
    assert Settings().rate_limits is True


@pytest.mark.parametrize("raw", ["off", "false", "0", "OFF", "False"])
def test_rate_limits_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("RATE_LIMITS", raw)

    assert Settings().rate_limits is False


@pytest.mark.parametrize("raw", ["on", "true", "1"])
def test_rate_limits_can_be_stated_on(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("RATE_LIMITS", raw)

    assert Settings().rate_limits is True


def test_budgets_have_their_documented_defaults() -> None:
    settings = Settings()

    assert {name: getattr(settings, name) for name in LIMIT_SETTINGS} == LIMIT_SETTINGS


@pytest.mark.parametrize("name", sorted(LIMIT_SETTINGS))
def test_a_budget_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name.upper(), "3/minute;20/day")

    assert getattr(Settings(), name) == "3/minute;20/day"


@pytest.mark.parametrize("name", sorted(LIMIT_SETTINGS))
@pytest.mark.parametrize("raw", ["5 per fortnight", "abc", "5/minute;abc"])
def test_a_budget_in_bad_notation_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv(name.upper(), raw)

    with pytest.raises(ValidationError) as error:
        Settings()

    assert refused_settings(error) == [name]


# --- tokens and bodies ----------------------------------------------------------------------------------


def test_refresh_tokens_last_fourteen_days_by_default() -> None:
    settings = Settings()

    assert settings.refresh_token_expire_days == 14
    assert settings.refresh_token_lifetime.days == 14


def test_refresh_token_lifetime_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFRESH_TOKEN_EXPIRE_DAYS", "3")

    assert Settings().refresh_token_lifetime.days == 3


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("REFRESH_TOKEN_EXPIRE_DAYS", "0"),
        ("REFRESH_TOKEN_EXPIRE_DAYS", "-1"),
        ("MAX_REQUEST_BODY_BYTES", "0"),
        ("MAX_REQUEST_BODY_BYTES", "-1024"),
    ],
)
def test_limits_must_be_positive(monkeypatch: pytest.MonkeyPatch, variable: str, raw: str) -> None:
    monkeypatch.setenv(variable, raw)

    with pytest.raises(ValidationError) as error:
        Settings()

    assert refused_settings(error) == [variable.lower()]


def test_issuer_and_audience_are_unset_by_default() -> None:
    settings = Settings()

    assert settings.jwt_issuer is None
    assert settings.jwt_audience is None


def test_issuer_and_audience_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ISSUER", "https://postboard.example")
    monkeypatch.setenv("JWT_AUDIENCE", "postboard-api")

    settings = Settings()

    assert (settings.jwt_issuer, settings.jwt_audience) == ("https://postboard.example", "postboard-api")


def test_body_limit_is_one_mebibyte_by_default() -> None:
    assert Settings().max_request_body_bytes == 1048576


def test_body_limit_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_REQUEST_BODY_BYTES", "2048")

    assert Settings().max_request_body_bytes == 2048


# --- postboard serve ------------------------------------------------------------------------------------


def test_serve_refuses_a_bad_budget_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "postboard.db"

    result = run_postboard(
        ["serve", "--port", str(free_port())],
        tmp_path,
        LOGIN_LIMIT_PER_ACCOUNT="nonsense",
        DATABASE_URL=f"sqlite:///{database}",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("postboard: error: invalid settings")
    assert "login_limit_per_account" in line.lower()
    assert not database.exists(), "nothing may be touched before the settings are checked"

"""Schemathesis sends generated requests, valid and invalid, to every documented operation of a running
`postboard serve`: none may answer 5xx, and every answer must match what the OpenAPI document promises."""

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from postboard.app import create_app
from tests.helpers import DEFAULT_PASSWORD, bearer, make_settings
from tests.live_server import register_and_log_in, serving
from tests.services import new_postgres_database

FUZZER_EMAIL = "fuzzer@example.com"
# Enough to reach the interesting corners of each operation while keeping the suite within minutes.
EXAMPLES_PER_OPERATION = 60


@dataclass(frozen=True)
class LiveServer:
    client: httpx.Client
    headers: dict[str, str]

    def fresh_headers(self) -> dict[str, str]:
        """A token of a login of its own, for operations that end the session they are called with."""
        login = self.client.post("/login", data={"username": FUZZER_EMAIL, "password": DEFAULT_PASSWORD})
        assert login.status_code == 200, login.text
        return bearer(login.json()["access_token"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    with ExitStack() as stack:
        # Throttling off: the generated failed logins would otherwise spend the budget of the real ones.
        settings_ = {"RATE_LIMITS": "off"}
        if request.param == "postgresql":
            settings_["DATABASE_URL"] = stack.enter_context(new_postgres_database())
        client, _ = stack.enter_context(serving(workdir, **settings_))
        token = register_and_log_in(client, FUZZER_EMAIL)
        headers = bearer(token)
        # Something to read, change and vote on, so that generated ids sometimes hit a real post.
        for title in ("first", "second"):
            client.post("/posts/", json={"title": title, "content": "fuzz"}, headers=headers)
        yield LiveServer(client, headers)


# Schemathesis' answers that reject schema-violating input, and 413: a value far past its `maxLength` (a
# refresh token, JSON-escaped) can make a body larger than the 16 KiB that anonymous routes take.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}
)
# The document the server publishes at /openapi.json, built without a server for collection.
schema = schemathesis.openapi.from_dict(
    create_app(make_settings("sqlite+aiosqlite://")).openapi(), config=CONFIG
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Case[Any], live_server: LiveServer) -> None:
    headers = live_server.fresh_headers() if case.path == "/logout" else live_server.headers
    case.call_and_validate(
        base_url=str(live_server.client.base_url),
        headers=headers,
        # Our validation is stricter than JSON Schema says (no NUL, no blank title, no lone surrogate):
        # such schema-valid input gets a 422, which tests/test_bad_input.py holds case by case.
        excluded_checks=[positive_data_acceptance],
    )

"""Schemathesis sends generated requests, valid and invalid, to every documented operation of a running
`postboard serve`, one at a time and in chains that follow the document's links: none may answer 5xx, every
answer must match what the OpenAPI document promises, and every request it calls valid must be accepted."""

from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from schemathesis import Case
from schemathesis.checks import CHECKS, positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from postboard.app import create_app
from postboard.openapi_links import LINKS
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
# A mailed link's token is any text in the schema: only the server knows which are live, and answers the
# others 400 (CONTRACT.md), so a schema-valid request to these may be refused that way too.
LINK_TOKEN_PATHS = ("/password/reset", "/email/verify")
ACCEPTANCES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
# Every check is on (schemathesis' default); only the rejections are widened as above.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
        "operations": [
            {
                "include-path": path,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTANCES, "400"]}},
            }
            for path in LINK_TOKEN_PATHS
        ],
    }
)
# The document the server publishes at /openapi.json, built without a server for collection.
schema = schemathesis.openapi.from_dict(
    create_app(make_settings("sqlite+aiosqlite://")).openapi(), config=CONFIG
)
# Each scenario is a chain of up to STATEFUL_STEPS calls that follow the document's links.
STATEFUL_SCENARIOS = 80
STATEFUL_STEPS = 10
STATEFUL_ATTEMPTS = 20


@dataclass
class StatefulRun:
    """Runs a schemathesis state machine under pytest until STATEFUL_SCENARIOS scenarios have run.

    Hypothesis replays choices expecting the same outcome, but the server keeps its state between scenarios
    (an email registered once is taken the next time), so a replay may take another path, which Hypothesis
    reports as a flaky strategy. Schemathesis' own runner starts again in that case; so does this, and the
    failures its checks raised are kept apart so that none is lost to such a report.
    """

    scenarios: int = 0
    failures: list[Exception] = field(default_factory=list)
    # The links followed, by name, with the statuses they were answered.
    followed: defaultdict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def until_enough_scenarios(self, machine: Any) -> None:
        for _ in range(STATEFUL_ATTEMPTS):
            # The scenarios that ran before a flaky report stand; the rest run in the next attempt.
            with suppress(Flaky):
                machine.run(settings=self._settings(STATEFUL_SCENARIOS - self.scenarios))
            if self.failures:
                raise self.failures[0]
            if self.scenarios >= STATEFUL_SCENARIOS:
                return
        pytest.fail(f"only {self.scenarios} scenarios ran in {STATEFUL_ATTEMPTS} attempts")

    @staticmethod
    def _settings(scenarios: int) -> settings:
        return settings(
            max_examples=max(scenarios, 1),
            stateful_step_count=STATEFUL_STEPS,
            # No shrinking: a replay meets the server in another state, as above.
            phases=[Phase.explicit, Phase.generate],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )


def test_every_check_is_enabled() -> None:
    configured = schema.config.checks_config_for()
    names = {check.__name__ for check in CHECKS.get_all()} - {"max_response_time"}  # no timing assertions
    assert positive_data_acceptance.__name__ in names
    assert [name for name in sorted(names) if not configured.get_by_name(name=name).enabled] == []


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Case[Any], live_server: LiveServer) -> None:
    headers = live_server.fresh_headers() if case.path == "/logout" else live_server.headers
    case.call_and_validate(base_url=str(live_server.client.base_url), headers=headers)


def test_linked_operations_answer_as_documented(live_server: LiveServer) -> None:
    """Schemathesis' stateful phase: chains such as create a post, read, vote on, replace and delete it, then
    read it again (404); register, log in, refresh, log out. Its checks include that a deleted post is gone
    (use_after_free) and that a created one can be read (ensure_resource_availability)."""
    run = StatefulRun()

    class LinkedCalls(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            run.scenarios += 1

        def step(self, input: Any) -> Any:
            output = super().step(input)
            if input.transition is not None:
                run.followed[input.transition.id].add(output.response.status_code)
            return output

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            kwargs: dict[str, Any] = {"base_url": str(live_server.client.base_url)}
            if "Authorization" not in (case.headers or {}):
                # A logout not chained to a login of its own would end the session every other call uses.
                kwargs["headers"] = (
                    live_server.fresh_headers() if case.path == "/logout" else live_server.headers
                )
            return kwargs

        def validate_response(self, response: Any, case: Case[Any], *args: Any, **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, *args, **kwargs)
            except Exception as failure:
                run.failures.append(failure)
                raise

    run.until_enough_scenarios(LinkedCalls)
    # The links resolve and lead somewhere: which ones a run follows is up to Hypothesis.
    declared = {link.name for link in LINKS}
    followed_declared = {
        name
        for transition, statuses in run.followed.items()
        for name in declared
        if f" {name} -> " in transition and any(200 <= status < 300 for status in statuses)
    }
    assert followed_declared, run.followed

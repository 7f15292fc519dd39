"""`postboard serve` writes no query-string secret to its access log, and keeps the parameters it reads."""

from pathlib import Path

import pytest

from postboard.access_log import redact_query_string
from tests.helpers import bearer
from tests.live_server import register_and_log_in, serving


def test_a_token_in_the_query_string_is_refused_and_not_logged(tmp_path: Path) -> None:
    with serving(tmp_path) as (client, log_path):
        token = register_and_log_in(client, "logged@example.com")
        in_query = client.get("/users/me", params={"access_token": token})
        listing = client.get(
            "/posts/",
            params={"limit": "5", "search": "hel", "token": "second-secret"},
            headers=bearer(token),
        )
        bare = client.get("/posts/?third-secret")
    log = log_path.read_text()

    assert in_query.status_code == 401
    assert listing.status_code == 200
    assert bare.status_code == 401
    for secret in (token, "second-secret", "third-secret"):
        assert secret not in log
    assert '"GET /users/me?[redacted] HTTP/1.1" 401' in log
    assert '"GET /posts/?limit=5&search=hel&[redacted] HTTP/1.1" 200' in log
    assert '"GET /posts/?[redacted] HTTP/1.1" 401' in log


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/posts/", "/posts/"),
        ("/posts/?limit=10&skip=20&before=abc", "/posts/?limit=10&skip=20&before=abc"),
        ("/posts/?lim%69t=5&access_token=eyJ", "/posts/?lim%69t=5&[redacted]"),
        ("/users/me?eyJhbGciOiJIUzI1NiJ9", "/users/me?[redacted]"),
        ("/users/me?limitless=x&search", "/users/me?[redacted]&search"),
        ("/a%3Fb?token=x", "/a%3Fb?[redacted]"),
    ],
)
def test_only_the_parameters_postboard_reads_are_shown(target: str, logged: str) -> None:
    assert redact_query_string(target) == logged

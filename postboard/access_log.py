"""uvicorn's access log without the secrets a query string can carry.

uvicorn writes each request line as the client sent it, query string included: a client that puts its
token in the URL (`?access_token=…`) is refused, but the token would stay in the log for whoever reads it.
"""

import logging
from urllib.parse import unquote_plus

# The parameters Postboard reads (those of GET /posts/): a page size, an offset, a title search and an
# opaque position cursor. None is a credential, and an operator needs them to replay a slow listing. No
# route reads any other, so any other is hidden, name and all: a client may send a bare `?<token>`.
SHOWN_PARAMETERS = frozenset({"limit", "skip", "search", "before"})
HIDDEN = "[redacted]"
# What uvicorn's HTTP protocols log for each answer: client, method, path with query, HTTP version, status.
_ACCESS_RECORD_ARGUMENTS = 5


def redact_query_string(target: str) -> str:
    """`target` (a path and maybe `?query`) with every parameter outside SHOWN_PARAMETERS hidden."""
    path, separator, query = target.partition("?")  # uvicorn percent-encodes a `?` within the path
    if not separator:
        return target
    return f"{path}?{'&'.join(map(_shown_or_hidden, query.split('&')))}"


def _shown_or_hidden(parameter: str) -> str:
    name = parameter.partition("=")[0]
    # Decoded as the app decodes it, so `lim%69t=5` is shown like `limit=5`.
    return parameter if unquote_plus(name) in SHOWN_PARAMETERS else HIDDEN


class RedactQueryStrings(logging.Filter):
    """Installed on the `uvicorn.access` logger by `postboard serve` (see `cli._log_config`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        arguments = record.args
        if isinstance(arguments, tuple) and len(arguments) == _ACCESS_RECORD_ARGUMENTS:
            client, method, target, http_version, status = arguments
            record.args = (client, method, redact_query_string(str(target)), http_version, status)
        return True

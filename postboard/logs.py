"""How Postboard's logs read: readable text by default, or one JSON object per line (LOG_FORMAT=json);
each record of a request carries its id. `postboard serve` hands `log_config` to uvicorn."""

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from uvicorn.logging import DefaultFormatter

from postboard.access_log import ACCESS_LOGGER_NAME
from postboard.request_ids import current_request_id

LogFormat = Literal["text", "json"]
# The attributes that records carry for machines (auth events, access lines, errors): JSON shows these and
# only these, so that an attribute some library attaches to a record never reaches the log unread.
STRUCTURED_FIELDS = (
    "event",
    "user_id",
    "address",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "client",
)
# Text lines: uvicorn's level prefix, then the request's id in brackets when there is one.
TEXT_FORMAT = "%(levelprefix)s %(request_tag)s%(message)s"
# Set on an exception that Postboard has logged: uvicorn, which sees it raised again, does not log it twice.
_LOGGED_MARK = "_postboard_logged"


def request_id_of(record: logging.LogRecord) -> str | None:
    request_id: str | None = getattr(record, "request_id", None) or current_request_id()
    return request_id


class TextFormatter(DefaultFormatter):
    """uvicorn's readable lines (`INFO:     message`), with the request's id in brackets within a request."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        request_id = request_id_of(record)
        record.request_tag = f"[{request_id}] " if request_id else ""
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time, level, logger, message, request_id, the structured
    fields the record has, and the stack of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _json_message(record),
            "request_id": request_id_of(record),
        }
        for name in STRUCTURED_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def _json_message(record: logging.LogRecord) -> str:
    """An access line's message without its query string (fields carry the rest); others' as written."""
    if record.name == ACCESS_LOGGER_NAME and hasattr(record, "status"):
        return f"{record.__dict__['method']} {record.__dict__['path']} {record.__dict__['status']}"
    return record.getMessage()


def mark_logged(error: BaseException) -> None:
    setattr(error, _LOGGED_MARK, True)


class SkipLoggedErrors(logging.Filter):
    """On uvicorn's error logger: Starlette raises an unexpected error again once it has answered 500, and
    uvicorn would log again the trace that the error handler already logged with the request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not getattr(error, _LOGGED_MARK, False)


def log_config(log_format: LogFormat) -> dict[str, Any]:
    """The logging configuration of `postboard serve`: Postboard's records and uvicorn's, in `log_format`;
    access lines on stdout as uvicorn writes them, the rest on stderr; uvicorn's own access log off."""
    formatter = (
        {"()": JsonFormatter}
        if log_format == "json"
        else {"()": TextFormatter, "fmt": TEXT_FORMAT, "use_colors": None}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"postboard": formatter},
        "filters": {"skip_logged_errors": {"()": SkipLoggedErrors}},
        "handlers": {
            "default": {
                "formatter": "postboard",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "postboard",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO", "filters": ["skip_logged_errors"]},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "postboard": {"handlers": ["default"], "level": "INFO", "propagate": False},
            ACCESS_LOGGER_NAME: {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }

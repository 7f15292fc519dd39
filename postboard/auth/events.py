"""Structured records of authentication events: who (user id) and from where (address), never a secret."""

import logging
from enum import StrEnum

logger = logging.getLogger("postboard.auth")


class AuthEvent(StrEnum):
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_SUSPENDED = "login_suspended"
    THROTTLED = "throttled"
    LOGOUT = "logout"
    REFRESHED = "refreshed"
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGED = "email_changed"
    ACCOUNT_DELETED = "account_deleted"


_WARNINGS = frozenset({AuthEvent.LOGIN_FAILED, AuthEvent.THROTTLED, AuthEvent.REFRESH_REUSE_DETECTED})


def log_auth_event(event: AuthEvent, address: str, user_id: int | None = None) -> None:
    """One record per event; `event`, `user_id` and `address` are attributes of the record, for handlers
    that ship records as JSON, and are also in the message for people reading the console."""
    level = logging.WARNING if event in _WARNINGS else logging.INFO
    logger.log(
        level,
        "auth event=%s user_id=%s address=%s",
        event.value,
        user_id,
        address,
        extra={"event": event.value, "user_id": user_id, "address": address},
    )

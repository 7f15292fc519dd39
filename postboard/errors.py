"""Domain errors, and every message a client can see: the course's in its exact wording, then Postboard's
own. Handlers turn them into responses (error_handlers.py); OpenAPI documents them (openapi.py)."""

from typing import ClassVar

from fastapi import status


class DomainError(Exception):
    """An outcome the contract names: it carries its status and the message the client sees."""

    status_code: ClassVar[int] = status.HTTP_400_BAD_REQUEST
    description: ClassVar[str] = "Bad request"
    headers: ClassVar[dict[str, str] | None] = None
    # Whether its answer says in Retry-After when to try again (documented in OpenAPI).
    has_retry_after: ClassVar[bool] = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def response_headers(self) -> dict[str, str] | None:
        return self.headers


class InvalidLink(DomainError):
    """A mailed link's token that is not (or no longer) good: made up, used, expired, or malformed."""

    description = "Invalid, used or expired link token"


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    description = "Not found"


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    description = "Forbidden"


class EmailUnverified(Forbidden):
    """A write that REQUIRE_VERIFIED_EMAIL keeps for accounts whose email is verified."""

    def __init__(self) -> None:
        super().__init__(EMAIL_NOT_VERIFIED)


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    description = "Conflict"


class Unauthorized(DomainError):
    status_code = status.HTTP_401_UNAUTHORIZED
    description = "Missing or invalid bearer token"
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012  (read-only class constant)


class Unavailable(DomainError):
    """Raised by no code: documents the 503 answered when the database or the throttling counters'
    Redis cannot be reached, or every pooled database connection stayed busy past the pool timeout."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    description = (
        "The database or the rate limiter is unreachable or busy; Retry-After says when to try again"
    )
    has_retry_after = True


class TooManyRequests(DomainError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    description = "Too many attempts; Retry-After says when to try again"
    has_retry_after = True

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds

    @property
    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


NOT_AUTHENTICATED = "Not authenticated"
INVALID_TOKEN = "Could not validate credentials"
INVALID_CREDENTIALS = "Invalid Credentials"
NOT_OWNER = "Not authorized to perform requested action"
VOTE_NOT_FOUND = "Vote does not exist"
VOTE_ADDED = "successfully added vote"
VOTE_DELETED = "successfully deleted vote"
DATABASE_UNAVAILABLE = "The database is unavailable, try again shortly"
INTERNAL_ERROR = "Internal Server Error"
INVALID_REFRESH_TOKEN = "Invalid or expired refresh token"
WRONG_PASSWORD = "The current password is incorrect"
TOO_MANY_LOGIN_FAILURES = "Too many failed login attempts, try again later"
TOO_MANY_REGISTRATIONS = "Too many registrations from this address, try again later"
TOO_MANY_PASSWORD_FAILURES = "Too many wrong passwords on this login session, try again later"
TOO_MANY_EMAIL_CHANGES = "Too many email changes on this account, try again later"
TOO_MANY_REFRESH_FAILURES = "Too many invalid refresh tokens from this address, try again later"
RATE_LIMITER_UNAVAILABLE = "The rate limiter is unavailable, try again shortly"
TOO_MANY_PASSWORD_RESETS = "Too many password reset requests, try again later"
TOO_MANY_VERIFICATION_MAILS = "Too many verification emails for this account, try again later"
INVALID_ACCOUNT_TOKEN = "This link is invalid or has expired; ask for a new one"
RESET_LINK_SENT = "If an account has this email, a link to reset its password is on its way"
VERIFICATION_LINK_SENT = "A new verification link is on its way"
NOTHING_TO_VERIFY = "The email address is already verified"
EMAIL_NOT_VERIFIED = "Verify your email address first: follow the link we mailed you, or ask for a new one"
ADMINS_ONLY = "Admins only"
ACCOUNT_SUSPENDED = "Account suspended"
CANNOT_SUSPEND_ONESELF = "You cannot suspend your own account"
CANNOT_SUSPEND_AN_ADMIN = "Admins cannot be suspended; make the account a member first"
ALREADY_SUSPENDED = "The account is already suspended"
NOT_SUSPENDED = "The account is not suspended"
CANNOT_PROMOTE_SUSPENDED = "A suspended account cannot be made an admin; reinstate it first"
CANNOT_REPORT_OWN_POST = "You cannot report your own post"


def body_too_large(max_bytes: int) -> str:
    return f"Request body is larger than the limit of {max_bytes} bytes"


def email_taken(email: str) -> str:
    return f"User with email: {email} already exists"


def user_not_found(user_id: int) -> str:
    return f"User with id: {user_id} does not exist"


def post_not_found_for_read(post_id: int) -> str:
    return f"post with id: {post_id} was not found"


def post_not_found_for_write(post_id: int) -> str:
    return f"post with id: {post_id} does not exist"


def post_not_found_for_vote(post_id: int) -> str:
    return f"Post with id: {post_id} does not exist"


def already_voted(user_id: int, post_id: int) -> str:
    return f"user {user_id} has already voted on post {post_id}"


def already_reported(post_id: int) -> str:
    return f"You have already reported post {post_id}"


def no_reports(post_id: int) -> str:
    return f"post with id: {post_id} has no reports"


def no_account_with_email(email: str) -> str:
    return f"No account with email: {email}"

"""The account page: change the email or the password, delete the account; the services of
`PATCH /users/me`, `PUT /users/me/password` and `DELETE /users/me`, with their password checks and budgets."""

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError

from postboard.accounts import service as accounts_service
from postboard.accounts.dependencies import AppEmailRules
from postboard.accounts.service import PasswordCheck
from postboard.auth.dependencies import ClientAddress, Hasher, Throttling
from postboard.errors import Conflict, Forbidden, TooManyRequests
from postboard.headers import WEB_PREFIX
from postboard.users.models import awaits_verification
from postboard.users.schemas import AccountDeletion, PasswordChange, UserUpdate
from postboard.web.forms import problems, read_session_form
from postboard.web.messages import NOTICES, retry_after
from postboard.web.pages import redirect, render
from postboard.web.routing import SignedIn, WebRoute, mark_unverified, reads_for, sign_out
from postboard.web.sessions import WebSession

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=WebRoute)
ACCOUNT_PAGE = f"{WEB_PREFIX}/account"
_LABELS = {
    "email": "New email",
    "current_password": "Current password",
    "new_password": "New password",
    "password": "Password",
}


@router.get("/account")
async def account(request: Request, session: SignedIn, notice: str = "") -> Response:
    return await _account_page(request, session, notice=NOTICES.get(notice))


@router.post("/account/email")
async def change_email(
    request: Request,
    session: SignedIn,
    hasher: Hasher,
    throttle: Throttling,
    rules: AppEmailRules,
    address: ClientAddress,
) -> Response:
    fields = await read_session_form(request, session)
    email = fields.get("email", "")
    try:
        change = UserUpdate(email=email, current_password=fields.get("current_password", ""))
        user = await accounts_service.update_user(
            PasswordCheck(hasher, throttle, address), reads_for(request, session), change, rules
        )
    except ValidationError as error:
        return await _refused(request, session, "email", problems(error, _LABELS), 422, email)
    except (Forbidden, Conflict, TooManyRequests) as error:
        return await _refused(request, session, "email", [_said(error)], error.status_code, email)
    if user.pending_email is not None:
        notice = "email-pending"
    else:  # with REQUIRE_VERIFIED_EMAIL, the current address asked for: any waiting change called off
        notice = "email-kept" if rules.require_verified_email else "email-changed"
    # The account page that follows brings the banner up to date.
    return redirect(f"{ACCOUNT_PAGE}?notice={notice}")


@router.post("/account/password")
async def change_password(
    request: Request, session: SignedIn, hasher: Hasher, throttle: Throttling, address: ClientAddress
) -> Response:
    """Every login session of the account ends, this browser's too, as with the API: log in again."""
    fields = await read_session_form(request, session)
    try:
        change = PasswordChange(
            current_password=fields.get("current_password", ""), new_password=fields.get("new_password", "")
        )
        await accounts_service.change_password(
            PasswordCheck(hasher, throttle, address), reads_for(request, session), change
        )
    except ValidationError as error:
        return await _refused(request, session, "password", problems(error, _LABELS), 422)
    except (Forbidden, TooManyRequests) as error:
        return await _refused(request, session, "password", [_said(error)], error.status_code)
    return _signed_out(request, f"{WEB_PREFIX}/login?notice=password-changed")


@router.post("/account/delete")
async def delete_account(
    request: Request, session: SignedIn, hasher: Hasher, throttle: Throttling, address: ClientAddress
) -> Response:
    """Asks for the password, as `DELETE /users/me` does; the posts and votes go with the account."""
    fields = await read_session_form(request, session)
    try:
        confirmation = AccountDeletion(password=fields.get("password", ""))
        await accounts_service.delete_user(
            PasswordCheck(hasher, throttle, address), reads_for(request, session), confirmation.password
        )
    except ValidationError as error:
        return await _refused(request, session, "delete", problems(error, _LABELS), 422)
    except (Forbidden, TooManyRequests) as error:
        return await _refused(request, session, "delete", [_said(error)], error.status_code)
    return _signed_out(request, f"{WEB_PREFIX}/login?notice=account-deleted")


def _said(error: Forbidden | Conflict | TooManyRequests) -> str:
    if isinstance(error, TooManyRequests):
        return retry_after(error.detail, error.retry_after_seconds)
    return error.detail


def _signed_out(request: Request, location: str) -> Response:
    response = redirect(location)
    sign_out(request, response)
    return response


async def _refused(
    request: Request,
    session: WebSession,
    form: str,
    errors: list[str],
    status_code: int,
    new_email: str = "",
) -> Response:
    """The account page again, the errors beside the form that was sent, its new email kept."""
    return await _account_page(
        request, session, status_code, errors={form: errors}, new_email=new_email, notice=None
    )


async def _account_page(
    request: Request, session: WebSession, status_code: int = status.HTTP_200_OK, **context: Any
) -> Response:
    me = await accounts_service.get_caller_account(reads_for(request, session))
    context.setdefault("errors", {})
    context.setdefault("new_email", "")
    # The page reads the account anyway: the banner's cookie is brought up to date with it.
    unverified = awaits_verification(me["email_verified"], me["pending_email"])
    session = replace(session, unverified=unverified)
    response = render("account.html", status_code, session=session, me=me, **context)
    mark_unverified(request, response, unverified)
    return response

"""Forgotten passwords and email verification: the forms of `POST /password/forgot`, the pages that the
mailed links open (`POST /password/reset`, `POST /email/verify`), and the banner's "resend"
(`POST /email/verify/resend`). A link's page shows a form and acts only when it is sent: mail scanners
open the links of a mail (GET) before its reader does."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import ValidationError

from postboard.accounts import recovery, verification
from postboard.accounts.account_tokens import ACCOUNT_TOKEN_MAX_LENGTH, find_token
from postboard.accounts.dependencies import AppAccountMails
from postboard.accounts.models import TokenPurpose
from postboard.accounts.schemas import PasswordForgotten, PasswordReset
from postboard.auth.dependencies import ClientAddress, Hasher, Throttling
from postboard.errors import INVALID_ACCOUNT_TOKEN, Conflict, InvalidLink, TooManyRequests
from postboard.headers import WEB_PREFIX
from postboard.request_db import AppDatabase
from postboard.routing import small_body
from postboard.web.forms import problems, read_anonymous_form, read_session_form
from postboard.web.messages import retry_after
from postboard.web.pages import redirect
from postboard.web.routing import (
    SignedIn,
    WebRoute,
    cookie_signer,
    cookies_of,
    mark_unverified,
    reads_for,
    sign_out,
)
from postboard.web.session_pages import anonymous_page

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=WebRoute)
FORGOT_PAGE = f"{WEB_PREFIX}/password/forgot"
ACCOUNT_PAGE = f"{WEB_PREFIX}/account"
_LABELS = {"email": "Email", "new_password": "New password", "token": "Link"}
# The mailed link's token, as its page receives it.
LinkToken = Annotated[str, Query(max_length=ACCOUNT_TOKEN_MAX_LENGTH)]


@router.get("/password/forgot")
async def forgot_form(request: Request) -> Response:
    return anonymous_page(request, "forgot.html", email="", errors=[])


@router.post("/password/forgot")
@small_body
async def forgot_password(
    request: Request,
    database: AppDatabase,
    throttle: Throttling,
    mails: AppAccountMails,
    address: ClientAddress,
) -> Response:
    """`POST /password/forgot`, within the same budgets; the same page follows for any address."""
    fields = await read_anonymous_form(request)
    email = fields.get("email", "")
    try:
        forgotten = PasswordForgotten(email=email)
        await recovery.ask_for_reset(database, throttle, mails, forgotten.email, address)
    except ValidationError as error:
        errors, status_code = problems(error, _LABELS), status.HTTP_422_UNPROCESSABLE_CONTENT
    except TooManyRequests as error:
        errors, status_code = [retry_after(error.detail, error.retry_after_seconds)], error.status_code
    else:
        return redirect(f"{FORGOT_PAGE}/sent")
    return anonymous_page(request, "forgot.html", status_code, email=email, errors=errors)


@router.get("/password/forgot/sent")
async def check_your_mail(request: Request) -> Response:
    return anonymous_page(request, "forgot_sent.html")


@router.get("/password/reset")
async def reset_form(request: Request, database: AppDatabase, token: LinkToken = "") -> Response:
    """The form the reset link opens; a link that no longer works says so now, not once the form is sent
    (looking changes nothing: the token is spent only by the form)."""
    live = await find_token(database, token, TokenPurpose.PASSWORD_RESET) is not None
    errors = [] if live else [INVALID_ACCOUNT_TOKEN]
    return anonymous_page(request, "reset.html", token=token, errors=errors, link_works=live)


@router.post("/password/reset")
@small_body
async def reset_password(
    request: Request, database: AppDatabase, hasher: Hasher, address: ClientAddress
) -> Response:
    """`POST /password/reset`: every session of the account ends, this browser's too; log in again."""
    fields = await read_anonymous_form(request)
    token = fields.get("token", "")
    try:
        reset = PasswordReset(token=token, new_password=fields.get("new_password", ""))
        await recovery.reset_password(database, hasher, reset.token, reset.new_password, address)
    except ValidationError as error:
        errors, status_code, works = problems(error, _LABELS), status.HTTP_422_UNPROCESSABLE_CONTENT, True
    except InvalidLink as error:
        errors, status_code, works = [error.detail], error.status_code, False
    else:
        response = redirect(f"{WEB_PREFIX}/login?notice=password-reset")
        sign_out(request, response)
        return response
    return anonymous_page(request, "reset.html", status_code, token=token, errors=errors, link_works=works)


@router.get("/email/verify")
async def verify_form(request: Request, token: LinkToken = "") -> Response:
    """The page the verification link opens: one button, which verifies."""
    return anonymous_page(request, "verify.html", token=token, errors=[])


@router.post("/email/verify")
@small_body
async def verify_email(
    request: Request, database: AppDatabase, mails: AppAccountMails, address: ClientAddress
) -> Response:
    """`POST /email/verify`; then the account page if this browser is signed in, else the login form."""
    fields = await read_anonymous_form(request)
    token = fields.get("token", "")
    try:
        await verification.verify_email(database, mails, token, address)
    except (InvalidLink, Conflict) as error:
        return anonymous_page(request, "verify.html", error.status_code, token=token, errors=[error.detail])
    signed_in = cookie_signer(request).caller_of(request.cookies.get(cookies_of(request).session))
    location = ACCOUNT_PAGE if signed_in else f"{WEB_PREFIX}/login"
    response = redirect(f"{location}?notice=email-verified")
    mark_unverified(request, response, unverified=False)
    return response


@router.post("/email/verify/resend")
async def resend_verification(
    request: Request, session: SignedIn, throttle: Throttling, mails: AppAccountMails
) -> Response:
    """The banner's button: `POST /email/verify/resend`, then the account page, which tells what happened."""
    await read_session_form(request, session)
    try:
        await verification.resend_verification(reads_for(request, session), throttle, mails)
    except Conflict:  # verified meanwhile (in another browser, say): the banner was out of date
        response = redirect(f"{ACCOUNT_PAGE}?notice=email-verified")
        mark_unverified(request, response, unverified=False)
        return response
    return redirect(f"{ACCOUNT_PAGE}?notice=verification-sent")

"""Register, log in, log out: the same services as `POST /users/`, `POST /login` and `POST /logout`."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import ValidationError

from postboard.accounts import service as accounts_service
from postboard.accounts.dependencies import AppAccountMails
from postboard.auth import service as auth_service
from postboard.auth.dependencies import AppTokenConfig, ClientAddress, Hasher, Throttling
from postboard.auth.schemas import Token, UserLogin
from postboard.auth.tokens import Caller, TokenConfig, TokenVerifier
from postboard.errors import Conflict, Forbidden, TooManyRequests
from postboard.headers import WEB_PREFIX
from postboard.request_db import AppDatabase, app_database
from postboard.routing import small_body
from postboard.users.schemas import UserCreate
from postboard.web.forms import problems, read_anonymous_form, read_session_form
from postboard.web.messages import NOTICES, retry_after
from postboard.web.pages import redirect, render
from postboard.web.routing import (
    SignedIn,
    WebRoute,
    clear_cookie,
    cookie_signer,
    cookies_of,
    mark_unverified,
    set_cookie,
    sign_out,
    web_page_or,
)
from postboard.web.sessions import new_form_secret

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=WebRoute)
FEED_PAGE = f"{WEB_PREFIX}/"
_LABELS = {"email": "Email", "username": "Email", "password": "Password"}
# The page to go to once logged in (`next`); only a page of the web app is ever followed.
AfterLogin = Annotated[str, Query(alias="next", max_length=2000)]


def anonymous_page(request: Request, template: str, status_code: int = 200, **context: object) -> Response:
    """A page whose form is sent before a login (log in, register, a forgotten password, the mailed links'),
    with the form cookie its CSRF token is tied to (kept if it has one)."""
    form_cookie = cookies_of(request).form
    form_secret = request.cookies.get(form_cookie) or new_form_secret()
    csrf_token = cookie_signer(request).form_csrf_token(form_secret)
    response = render(template, status_code, csrf_token=csrf_token, session=None, **context)
    set_cookie(request, response, form_cookie, form_secret)
    return response


@router.get("/login")
async def login_form(request: Request, notice: str = "", after: AfterLogin = "") -> Response:
    return anonymous_page(request, "login.html", email="", errors=[], notice=NOTICES.get(notice), after=after)


@router.post("/login")
@small_body
async def log_in(
    request: Request,
    database: AppDatabase,
    hasher: Hasher,
    throttle: Throttling,
    token_config: AppTokenConfig,
    address: ClientAddress,
) -> Response:
    """The login of `POST /login`, which spends the same failure budgets; the browser gets a cookie naming
    the login session it started instead of tokens."""
    fields = await read_anonymous_form(request)
    email, after = fields.get("email", ""), fields.get("next", "")
    try:
        credentials = UserLogin(username=email, password=fields.get("password", ""))
        token = await auth_service.log_in(database, hasher, throttle, token_config, credentials, address)
    except ValidationError as error:
        errors, status_code = problems(error, _LABELS), status.HTTP_422_UNPROCESSABLE_CONTENT
    except TooManyRequests as error:
        errors, status_code = [retry_after(error.detail, error.retry_after_seconds)], error.status_code
    except Forbidden as error:
        errors, status_code = [error.detail], error.status_code
    else:
        return await _logged_in(request, token, token_config, web_page_or(after, FEED_PAGE))
    return anonymous_page(
        request, "login.html", status_code, email=email, errors=errors, notice=None, after=after
    )


async def _logged_in(request: Request, token: Token, token_config: TokenConfig, location: str) -> Response:
    """Off to `location` with the session cookie naming the login session that `token` belongs to, for an
    admin the cookie that shows the Admin link, and the banner's if the email awaits verification."""
    verifier: TokenVerifier = request.app.state.token_verifier
    claims = verifier.verify(token.access_token)
    assert claims is not None  # issued just now with our key
    response = redirect(location)
    cookies, signer = cookies_of(request), cookie_signer(request)
    caller = Caller(claims.user_id, claims.login_session_id)
    max_age = int(token_config.login_session_lifetime.total_seconds())
    set_cookie(request, response, cookies.session, signer.session_cookie(caller), max_age)
    state = await accounts_service.web_login_state(app_database(request), caller.user_id)
    if state.is_admin:
        set_cookie(request, response, cookies.admin, signer.admin_cookie(caller), max_age)
    else:
        clear_cookie(request, response, cookies.admin)
    clear_cookie(request, response, cookies.form)
    mark_unverified(request, response, state.awaits_verification)
    return response


@router.get("/register")
async def registration_form(request: Request) -> Response:
    return anonymous_page(request, "register.html", email="", errors=[])


@router.post("/register")
@small_body
async def register(
    request: Request,
    database: AppDatabase,
    hasher: Hasher,
    throttle: Throttling,
    mails: AppAccountMails,
    address: ClientAddress,
) -> Response:
    """The registration of `POST /users/`, within the same budget, with the same verification mail."""
    fields = await read_anonymous_form(request)
    email = fields.get("email", "")
    try:
        new_user = UserCreate(email=email, password=fields.get("password", ""))
        await accounts_service.register(database, hasher, throttle, mails, new_user, address)
    except ValidationError as error:
        errors, status_code = problems(error, _LABELS), status.HTTP_422_UNPROCESSABLE_CONTENT
    except TooManyRequests as error:
        errors, status_code = [retry_after(error.detail, error.retry_after_seconds)], error.status_code
    except Conflict as error:
        errors, status_code = [error.detail], error.status_code
    else:
        return redirect(f"{WEB_PREFIX}/login?notice=registered")
    return anonymous_page(request, "register.html", status_code, email=email, errors=errors)


@router.post("/logout")
async def log_out(request: Request, session: SignedIn, address: ClientAddress) -> Response:
    """Ends the login session the cookie names, as `POST /logout` does for a token's."""
    await read_session_form(request, session)
    async with app_database(request).orm_session(writes=True) as db, db.begin():
        await auth_service.log_out(db, session.caller.login_session_id, session.caller.user_id, address)
    response = redirect(f"{WEB_PREFIX}/login?notice=logged-out")
    sign_out(request, response)
    return response

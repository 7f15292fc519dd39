"""The web app's route class and dependencies: who is signed in, and the answers for what went wrong,
as pages rather than the API's JSON."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from postboard.access_log import record_user_id
from postboard.auth.reads import CallerReads
from postboard.auth.tokens import TokenConfig
from postboard.errors import DomainError, TooManyRequests, Unauthorized
from postboard.headers import WEB_PREFIX
from postboard.request_db import app_database
from postboard.web.messages import BAD_ADDRESS, FORBIDDEN_FORM, retry_after
from postboard.web.pages import redirect, render
from postboard.web.sessions import CookieSigner, CsrfRefused, NotSignedIn, WebCookies, WebSession

LOGIN_PAGE = f"{WEB_PREFIX}/login"

RouteHandler = Callable[[Request], Coroutine[Any, Any, Response]]


def cookie_signer(request: Request) -> CookieSigner:
    signer: CookieSigner = request.app.state.web_cookie_signer
    return signer


def cookies_of(request: Request) -> WebCookies:
    cookies: WebCookies = request.app.state.web_cookies
    return cookies


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    """One of the web app's cookies: for the whole site, out of scripts' reach, not sent along with
    requests that other sites start (except plain links: SameSite=Lax), Secure over HTTPS."""
    secure = cookies_of(request).secure
    response.set_cookie(name, value, max_age, path="/", secure=secure, httponly=True, samesite="lax")


def clear_cookie(request: Request, response: Response, name: str) -> None:
    secure = cookies_of(request).secure
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


def mark_unverified(request: Request, response: Response, unverified: bool) -> None:
    """Shows the unverified email's banner on the browser's pages from now on, or stops showing it."""
    name = cookies_of(request).unverified
    if unverified:
        token_config: TokenConfig = request.app.state.token_config  # as long as the session cookie may last
        set_cookie(request, response, name, "1", int(token_config.login_session_lifetime.total_seconds()))
    elif name in request.cookies:
        clear_cookie(request, response, name)


def sign_out(request: Request, response: Response) -> None:
    """The browser's session cookie cleared, and the admin link's and the banner's with it."""
    cookies = cookies_of(request)
    clear_cookie(request, response, cookies.session)
    clear_cookie(request, response, cookies.admin)
    mark_unverified(request, response, unverified=False)


async def get_web_session(request: Request) -> WebSession:
    """The signed-in browser; the page redirects to the login form without one. Whether its login session
    is alive is asked by the reads and writes that follow, as for a bearer token."""
    signer = cookie_signer(request)
    caller = signer.caller_of(request.cookies.get(cookies_of(request).session))
    if caller is None:
        raise NotSignedIn
    record_user_id(request.scope, caller.user_id)
    cookies = cookies_of(request)
    return WebSession(
        caller,
        signer.session_csrf_token(caller),
        shows_admin_link=signer.shows_admin_link(caller, request.cookies.get(cookies.admin)),
        unverified=cookies.unverified in request.cookies,
    )


SignedIn = Annotated[WebSession, Depends(get_web_session)]


def reads_for(request: Request, session: WebSession) -> CallerReads:
    return CallerReads(session.caller, app_database(request))


def error_page(error: DomainError, session: WebSession | None = None) -> Response:
    message = error.detail
    if isinstance(error, TooManyRequests):
        message = retry_after(message, error.retry_after_seconds)
    return render("error.html", error.status_code, title=error.description, message=message, session=session)


def web_page_or(candidate: str, fallback: str) -> str:
    """`candidate` if it is a page of the web app (a path under /web/ of this site), else `fallback`: a
    redirect never sends the browser to another site."""
    if candidate.startswith(f"{WEB_PREFIX}/") and "\\" not in candidate:
        return candidate
    return fallback


def _login_page(request: Request, **query: str) -> str:
    """The login form, which sends the browser back to the page it asked for (a GET's) once logged in."""
    if request.method == "GET":
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query["next"] = wanted
    return f"{LOGIN_PAGE}?{urlencode(query)}" if query else LOGIN_PAGE


class WebRoute(APIRoute):
    """Answers what the API answers with JSON as pages: no login (a redirect to the form), an ended
    session (the same, saying so, and the cookie cleared), a refused form, a domain error, a bad address."""

    def get_route_handler(self) -> RouteHandler:
        handler = super().get_route_handler()

        async def handle_as_page(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn:
                return redirect(_login_page(request))
            except Unauthorized:
                response = redirect(_login_page(request, notice="ended"))
                sign_out(request, response)
                return response
            except CsrfRefused:
                return render(
                    "error.html",
                    status.HTTP_403_FORBIDDEN,
                    title="Forbidden",
                    message=FORBIDDEN_FORM,
                    session=None,
                )
            except DomainError as error:
                return error_page(error)
            except RequestValidationError:
                return render(
                    "error.html",
                    status.HTTP_400_BAD_REQUEST,
                    title="Bad request",
                    message=BAD_ADDRESS,
                    session=None,
                )

        return handle_as_page

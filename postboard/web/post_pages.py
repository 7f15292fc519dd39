"""The feed, a post's page, writing, editing and deleting posts, drafts and votes: the same services as
`/posts/` and `/vote/`."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from postboard.auth.reads import login_session_is_alive
from postboard.errors import (
    INVALID_TOKEN,
    NOT_OWNER,
    Conflict,
    EmailUnverified,
    Forbidden,
    NotFound,
    Unauthorized,
)
from postboard.fields import PathId
from postboard.headers import WEB_PREFIX
from postboard.moderation import service as moderation_service
from postboard.moderation.schemas import ReasonIn
from postboard.posts import service as posts_service
from postboard.posts.models import CONTENT_MAX_LENGTH, TITLE_MAX_LENGTH
from postboard.posts.router import SearchText
from postboard.posts.schemas import PostCreate
from postboard.request_db import app_database
from postboard.votes import service as votes_service
from postboard.votes.schemas import VoteIn
from postboard.web.forms import Fields, problems, read_session_form, signed_in_write
from postboard.web.messages import NOTICES
from postboard.web.negotiation import prefers_json
from postboard.web.pages import redirect, render
from postboard.web.routing import SignedIn, WebRoute, error_page, reads_for, web_page_or
from postboard.web.sessions import WebSession

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=WebRoute)
PAGE_SIZE = 10
# Far past any feed a person pages through; the API's own bound is the database's.
MAX_PAGE = 100_000
_LABELS = {"title": "Title", "content": "Content", "published": "Publish"}
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def _post_page(post_id: int) -> str:
    return f"{WEB_PREFIX}/posts/{post_id}"


@router.get("/")
async def feed(
    request: Request,
    session: SignedIn,
    page: PageNumber = 1,
    search: Annotated[SearchText, Query()] = "",
    notice: str = "",
) -> Response:
    """Newest first, 10 to a page: the listing of `GET /posts/`, in its one query."""
    listing = await posts_service.list_posts(
        reads_for(request, session),
        limit=PAGE_SIZE,
        skip=(page - 1) * PAGE_SIZE,
        search=search,
        before=None,
        with_caller_vote=True,
    )
    return render(
        "feed.html",
        session=session,
        posts=listing.posts,
        page=page,
        has_next=listing.next_cursor is not None and page < MAX_PAGE,
        search=search,
        notice=NOTICES.get(notice),
    )


@router.get("/drafts")
async def drafts(request: Request, session: SignedIn, page: PageNumber = 1) -> Response:
    posts = await posts_service.list_drafts(
        reads_for(request, session), limit=PAGE_SIZE + 1, skip=(page - 1) * PAGE_SIZE
    )
    return render(
        "drafts.html", session=session, posts=posts[:PAGE_SIZE], page=page, has_next=len(posts) > PAGE_SIZE
    )


@router.get("/posts/new")
async def new_post_form(request: Request, session: SignedIn) -> Response:
    # The one page that reads nothing else: an ended session is told now, not once the post is written.
    if not await login_session_is_alive(app_database(request), session.caller):
        raise Unauthorized(INVALID_TOKEN)
    return _editor(session, None, {"title": "", "content": "", "published": True}, [])


@router.post("/posts/new")
async def create_post(request: Request, session: SignedIn) -> Response:
    fields = await read_session_form(request, session)
    values = _post_values(fields)
    try:
        new_post = PostCreate(**values)
        async with signed_in_write(request, session, posting=True) as (db, user):
            post = await posts_service.create_post(db, user, new_post)
            post_id = post.id
    except ValidationError as error:
        return _editor(session, None, values, problems(error, _LABELS), status.HTTP_422_UNPROCESSABLE_CONTENT)
    except EmailUnverified as error:  # where a verified email is required: the text is kept for later
        return _editor(session, None, values, [error.detail], error.status_code)
    return redirect(_post_page(post_id))


@router.get("/posts/{id}")
async def post_page(request: Request, session: SignedIn, id: PathId, notice: str = "") -> Response:
    post = await posts_service.get_post(reads_for(request, session), id, with_caller_vote=True)
    return render("post.html", session=session, item=post, notice=NOTICES.get(notice), errors=[])


async def _own_post(request: Request, session: WebSession, post_id: int) -> dict[str, Any]:
    """The post as read, if the caller may see it (else 404) and it is theirs (else 403, as the API's
    writes answer): a page that offers to change it is shown to its owner only."""
    post = await posts_service.get_post(reads_for(request, session), post_id)
    if post["Post"]["owner_id"] != session.caller.user_id:
        raise Forbidden(NOT_OWNER)
    return post


@router.get("/posts/{id}/edit")
async def edit_form(request: Request, session: SignedIn, id: PathId) -> Response:
    post = await _own_post(request, session, id)
    return _editor(session, id, post["Post"], [])


@router.post("/posts/{id}/edit")
async def replace_post(request: Request, session: SignedIn, id: PathId) -> Response:
    fields = await read_session_form(request, session)
    values = _post_values(fields)
    try:
        replacement = PostCreate(**values)
        async with signed_in_write(request, session, posting=True) as (db, user):
            await posts_service.replace_post(db, user, id, replacement)
    except ValidationError as error:
        return _editor(session, id, values, problems(error, _LABELS), status.HTTP_422_UNPROCESSABLE_CONTENT)
    except EmailUnverified as error:
        return _editor(session, id, values, [error.detail], error.status_code)
    return redirect(_post_page(id))


@router.get("/posts/{id}/delete")
async def delete_confirmation(request: Request, session: SignedIn, id: PathId) -> Response:
    post = await _own_post(request, session, id)
    return render("delete.html", session=session, item=post)


@router.post("/posts/{id}/delete")
async def delete_post(request: Request, session: SignedIn, id: PathId) -> Response:
    await read_session_form(request, session)
    async with signed_in_write(request, session) as (db, user):
        await posts_service.delete_post(db, user, id)
    return redirect(f"{WEB_PREFIX}/?notice=deleted")


@router.post("/posts/{id}/report")
async def report_post(request: Request, session: SignedIn, id: PathId) -> Response:
    """Reports the post to the admins, as `POST /posts/{id}/report` does; back to its page, which says so."""
    fields = await read_session_form(request, session)
    try:
        report = ReasonIn(reason=fields.get("reason", ""))
        async with signed_in_write(request, session) as (db, user):
            await moderation_service.report_post(db, user, id, report.reason)
    except ValidationError as error:
        post = await posts_service.get_post(reads_for(request, session), id, with_caller_vote=True)
        errors = problems(error, {"reason": "Reason"})
        return render(
            "post.html",
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            session=session,
            item=post,
            errors=errors,
            notice=None,
        )
    except Conflict:
        return redirect(f"{_post_page(id)}?notice=already-reported")
    return redirect(f"{_post_page(id)}?notice=reported")


@router.post("/posts/{id}/vote")
async def vote(request: Request, session: SignedIn, id: PathId) -> Response:
    """Adds the vote (`dir` 1) or takes it back (0), as `POST /vote/` does; back to the page it came from,
    or, asked for JSON, the post's vote count and whether the caller has voted."""
    fields = await read_session_form(request, session)
    direction = 1 if fields.get("dir") == "1" else 0
    try:
        async with signed_in_write(request, session, posting=True) as (db, user):
            await votes_service.cast_vote(db, user, VoteIn(post_id=id, dir=direction))
    except Conflict:
        pass  # voted already (a second click, or another tab): the page shows the vote either way
    except NotFound as error:
        if direction == 1:
            return error_page(error, session)
        # Nothing to take back: already taken back, unless the post is gone, which its page will say.
    if prefers_json(request.headers.get("accept")):
        # The page's script (static/vote.js) updates the button and the count in place.
        post = await posts_service.get_post(reads_for(request, session), id, with_caller_vote=True)
        return JSONResponse(
            {"votes": post["votes"], "voted": post["voted"]}, headers={"Cache-Control": "no-store"}
        )
    # Back to the page the vote's form came from, else the post's own.
    return redirect(web_page_or(fields.get("back", ""), _post_page(id)))


def _post_values(fields: Fields) -> dict[str, Any]:
    """The editor's fields as PostCreate takes them; an unticked box is not sent at all."""
    return {
        "title": fields.get("title", ""),
        "content": fields.get("content", ""),
        "published": fields.get("published") == "on",
    }


def _editor(
    session: WebSession,
    post_id: int | None,
    values: dict[str, Any],
    errors: list[str],
    status_code: int = status.HTTP_200_OK,
) -> Response:
    return render(
        "editor.html",
        status_code,
        session=session,
        post_id=post_id,
        values=values,
        errors=errors,
        title_max=TITLE_MAX_LENGTH,
        content_max=CONTENT_MAX_LENGTH,
    )

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response, status
from pydantic import AfterValidator, StringConstraints

from postboard.auth.dependencies import AsCaller, AuthenticatedRoute, CurrentUser, PostingUser
from postboard.errors import Forbidden, NotFound, Unauthorized, Unavailable
from postboard.fields import REJECT_NUL, REQUIRE_ENCODABLE, PathId
from postboard.openapi import responses
from postboard.orm import MAX_OFFSET
from postboard.patterns import NO_NUL, Published
from postboard.posts import service
from postboard.posts.cursors import CURSOR_PATTERN, PageCursor, parse_cursor
from postboard.posts.models import TITLE_MAX_LENGTH, PostRow
from postboard.posts.schemas import Post, PostCreate, PostOut
from postboard.request_db import Db
from postboard.routing import CollectionRouter

router = CollectionRouter(
    prefix="/posts",
    tags=["Posts"],
    responses=responses(Unauthorized, Unavailable),
    route_class=AuthenticatedRoute,
)


def _check_cursor(text: str) -> str:
    parse_cursor(text)  # raises ValueError, a 422 naming the parameter
    return text


Cursor = Annotated[str, AfterValidator(_check_cursor), Published(CURSOR_PATTERN)]
# No title is longer, so a longer search could match nothing; capped, its LIKE pattern also stays far inside
# SQLite's limit (50,000 bytes, which escaping `%` and `_` halves), past which the database refuses it.
SearchText = Annotated[
    str, StringConstraints(max_length=TITLE_MAX_LENGTH), REQUIRE_ENCODABLE, REJECT_NUL, Published(NO_NUL)
]
_NEXT_PAGE = {
    "Link": {
        "description": 'When the page is full: `<URL of the next page>; rel="next"`, which continues '
        "after the page's last post with `before`",
        "schema": {"type": "string"},
    }
}


def _next_page_link(request: Request, cursor: PageCursor) -> str:
    """The same listing after `cursor`: `skip` is dropped, since the cursor already says where to go on."""
    query = {name: value for name, value in request.query_params.items() if name != "skip"}
    query["before"] = str(cursor)
    return f'<{request.url.path}?{urlencode(query)}>; rel="next"'


@router.get("/", response_model=list[PostOut], responses={200: {"headers": _NEXT_PAGE}})
async def list_posts(
    request: Request,
    response: Response,
    as_caller: AsCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    skip: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    search: Annotated[SearchText, Query(description="Case-insensitive substring of the title")] = "",
    before: Annotated[
        Cursor | None,
        Query(description="Only posts after this position: the cursor of the `Link` header's next page"),
    ] = None,
) -> list[dict[str, Any]]:
    """Newest first: every published post, and the caller's own unpublished ones.

    Page with `skip`, or, to go through everything, follow the `Link` header: each full page names the
    next one, which starts right after this page's last post however many posts come and go meanwhile.
    """
    cursor = None if before is None else parse_cursor(before)
    page = await service.list_posts(as_caller, limit=limit, skip=skip, search=search, before=cursor)
    if page.next_cursor is not None:
        response.headers["Link"] = _next_page_link(request, page.next_cursor)
    return page.posts


@router.get("/{id}", response_model=PostOut, responses=responses(NotFound))
async def get_post(id: PathId, as_caller: AsCaller) -> dict[str, Any]:
    return await service.get_post(as_caller, id)


@router.post(
    "/", status_code=status.HTTP_201_CREATED, response_model=Post, responses=responses(Forbidden, body=True)
)
async def create_post(new_post: PostCreate, db: Db, user: PostingUser) -> PostRow:
    """With REQUIRE_VERIFIED_EMAIL, only an account with a verified email may post (else 403)."""
    return await service.create_post(db, user, new_post)


@router.put("/{id}", response_model=Post, responses=responses(Forbidden, NotFound, body=True))
async def replace_post(id: PathId, replacement: PostCreate, db: Db, user: PostingUser) -> PostRow:
    """Full replacement: an omitted `published` becomes true. With REQUIRE_VERIFIED_EMAIL, only an account
    with a verified email may (else 403)."""
    return await service.replace_post(db, user, id, replacement)


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(Forbidden, NotFound),
)
async def delete_post(id: PathId, db: Db, user: CurrentUser) -> None:
    """Deletes the post and its votes."""
    await service.delete_post(db, user, id)

from typing import Annotated

from fastapi import Query, Response, status

from postboard.auth.dependencies import CurrentUser
from postboard.db import MAX_OFFSET, Session
from postboard.errors import Forbidden, NotFound, Unauthorized, responses
from postboard.fields import StorableStr
from postboard.posts import service
from postboard.posts.models import Post as PostRow
from postboard.posts.schemas import Post, PostCreate, PostOut
from postboard.routing import CollectionRouter

router = CollectionRouter(prefix="/posts", tags=["Posts"], responses=responses(Unauthorized))


def _post_out(post: PostRow, votes: int) -> PostOut:
    return PostOut(post=Post.model_validate(post), votes=votes)


@router.get("/", response_model=list[PostOut])
async def list_posts(
    session: Session,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    skip: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    search: Annotated[StorableStr, Query(description="Case-insensitive substring of the title")] = "",
) -> list[PostOut]:
    """Newest first: every published post, and the caller's own unpublished ones."""
    rows = await service.list_posts(session, user.id, limit=limit, skip=skip, search=search)
    return [_post_out(post, votes) for post, votes in rows]


@router.post("/", status_code=status.HTTP_201_CREATED, response_model=Post, responses=responses(body=True))
async def create_post(new_post: PostCreate, session: Session, user: CurrentUser) -> PostRow:
    return await service.create_post(session, user, new_post)


@router.get("/{id}", response_model=PostOut, responses=responses(NotFound))
async def get_post(id: int, session: Session, user: CurrentUser) -> PostOut:
    return _post_out(*await service.get_post(session, user.id, id))


@router.put("/{id}", response_model=Post, responses=responses(Forbidden, NotFound, body=True))
async def replace_post(id: int, replacement: PostCreate, session: Session, user: CurrentUser) -> PostRow:
    """Full replacement: an omitted `published` becomes true."""
    return await service.replace_post(session, user, id, replacement)


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(Forbidden, NotFound),
)
async def delete_post(id: int, session: Session, user: CurrentUser) -> None:
    """Deletes the post and its votes."""
    await service.delete_post(session, user, id)

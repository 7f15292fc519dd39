from fastapi import status

from postboard.auth.dependencies import AuthenticatedRoute, PostingUser
from postboard.errors import Conflict, Forbidden, NotFound, Unauthorized, Unavailable
from postboard.openapi import responses
from postboard.request_db import Db
from postboard.routing import CollectionRouter
from postboard.votes import service
from postboard.votes.schemas import VoteIn, VoteResult

router = CollectionRouter(
    prefix="/vote", tags=["Vote"], responses=responses(Unavailable), route_class=AuthenticatedRoute
)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=VoteResult,
    responses=responses(Unauthorized, Forbidden, NotFound, Conflict, body=True),
)
async def vote(vote: VoteIn, db: Db, user: PostingUser) -> VoteResult:
    """`dir: 1` adds the caller's vote on the post, `dir: 0` takes it back. With REQUIRE_VERIFIED_EMAIL,
    only an account with a verified email may vote (else 403)."""
    return VoteResult(message=await service.cast_vote(db, user, vote))

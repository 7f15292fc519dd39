from fastapi import status

from postboard.auth.dependencies import CurrentUser, Hasher
from postboard.db import Session
from postboard.errors import Conflict, NotFound, Unauthorized, responses
from postboard.routing import CollectionRouter
from postboard.users import service
from postboard.users.models import User
from postboard.users.schemas import UserCreate, UserOut

router = CollectionRouter(prefix="/users", tags=["Users"])


@router.post(
    "/", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses=responses(Conflict, body=True)
)
async def create_user(new_user: UserCreate, session: Session, hasher: Hasher) -> User:
    """Registers an account. Emails are case-insensitive: one account per address in any letter case."""
    return await service.create_user(session, hasher, new_user)


@router.get("/{id}", response_model=UserOut, responses=responses(Unauthorized, NotFound))
async def get_user(id: int, session: Session, _caller: CurrentUser) -> User:
    return await service.get_user(session, id)

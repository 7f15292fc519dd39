from typing import Annotated

from fastapi import APIRouter, Form

from postboard.auth.dependencies import Hasher, Tokens
from postboard.auth.schemas import Token, UserLogin
from postboard.auth.service import log_in
from postboard.db import AppDatabase
from postboard.errors import Forbidden, responses

router = APIRouter(tags=["Authentication"])


@router.post("/login", response_model=Token, responses=responses(Forbidden))
async def login(
    credentials: Annotated[UserLogin, Form()], database: AppDatabase, hasher: Hasher, tokens: Tokens
) -> Token:
    """Exchanges an email and password (as an OAuth2 password form) for a bearer token."""
    return await log_in(database, hasher, tokens, credentials)

"""Roles from the command line's service: each change one audit log entry, none for no change; a suspended
account is not made an admin; an unknown email is told."""

import re

import httpx
import pytest
from fastapi import FastAPI

from postboard.errors import CANNOT_PROMOTE_SUSPENDED, Conflict, NotFound
from postboard.moderation.models import AuditEntry
from postboard.moderation.service import set_role
from postboard.users.models import Role
from tests.helpers import Account, count_rows, give_role, suspend


async def test_only_a_change_is_logged(app: FastAPI, alice: Account) -> None:
    await give_role(app, alice.email, Role.ADMIN)
    await give_role(app, alice.email, Role.ADMIN)
    await give_role(app, alice.email, Role.MEMBER)

    assert await count_rows(app, AuditEntry, AuditEntry.target_id == alice.id) == 2
    assert await count_rows(app, AuditEntry, AuditEntry.actor_id.is_not(None)) == 0


async def test_a_suspended_account_is_not_made_an_admin(
    app: FastAPI, client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    await suspend(client, admin, alice.id)

    with pytest.raises(Conflict, match=re.escape(CANNOT_PROMOTE_SUSPENDED)):
        await give_role(app, alice.email, Role.ADMIN)


async def test_an_unknown_email_is_told(app: FastAPI) -> None:
    async with app.state.database.orm_session(writes=True) as db, db.begin():
        with pytest.raises(NotFound, match=re.escape("No account with email: nobody@example.com")):
            await set_role(db, "nobody@example.com", Role.ADMIN)

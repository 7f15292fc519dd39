"""What the account routes take from the app: its account mails and its email rules."""

from typing import Annotated

from fastapi import Depends, Request

from postboard.accounts.mails import AccountMails
from postboard.accounts.service import EmailRules


async def get_account_mails(request: Request) -> AccountMails:
    mails: AccountMails = request.app.state.account_mails
    return mails


async def get_email_rules(request: Request) -> EmailRules:
    return EmailRules(await get_account_mails(request), request.app.state.require_verified_email)


AppAccountMails = Annotated[AccountMails, Depends(get_account_mails)]
AppEmailRules = Annotated[EmailRules, Depends(get_email_rules)]

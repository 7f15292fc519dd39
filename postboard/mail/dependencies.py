"""The Mailer as a route's dependency."""

from typing import Annotated

from fastapi import Depends, Request

from postboard.mail.delivery import Mailer


async def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


AppMailer = Annotated[Mailer, Depends(get_mailer)]

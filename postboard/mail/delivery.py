"""The Mailer: mails and background jobs run after the request that asked for them, never in its way.

A request calls `send` and goes on at once; the mail is delivered by a task of the event loop, a bounded
number at a time, retried with back-off while the relay's failures are transient. A bounded backlog keeps a
flood (or a relay that is down for long) from growing memory without end: past it, mails are dropped with
an error in the log."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from email.message import EmailMessage
from typing import Any

from opentelemetry.metrics import Meter

from postboard.config import Settings
from postboard.mail.message import Mail, mime_message
from postboard.mail.transports import DeliveryFailed, Transport, transport_for

logger = logging.getLogger("postboard.mail")

DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_BACKLOG = 1000
# After the first attempt: about a minute and a half of retries, enough for a relay's restart.
DEFAULT_RETRY_DELAYS_SECONDS = (2.0, 10.0, 60.0)
DEFAULT_ATTEMPT_TIMEOUT_SECONDS = 30.0


class MailCounters:
    def __init__(self, meter: Meter) -> None:
        self.sent = meter.create_counter(
            "postboard.mail.sent", unit="{mail}", description="Mails the relay accepted (or logged, unset)."
        )
        self.failed = meter.create_counter(
            "postboard.mail.failed",
            unit="{mail}",
            description="Mails never delivered, by reason: refused (5xx), gave_up (after the retries), "
            "dropped (past the backlog, or at shutdown), error.",
        )


class Mailer:
    """One per app, at app.state.mailer. Call `send` and `run_later` from the event loop."""

    def __init__(
        self,
        transport: Transport,
        sender: str,
        counters: MailCounters,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS_SECONDS,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT_SECONDS,
    ) -> None:
        self.transport = transport
        self.sender = sender
        self.counters = counters
        self.max_backlog = max_backlog
        self.retry_delays = tuple(retry_delays)
        self.attempt_timeout = attempt_timeout
        self._delivery_slots = asyncio.Semaphore(concurrency)
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Mails and jobs queued or running."""
        return len(self._pending)

    def send(self, mail: Mail) -> None:
        """Queues the mail and returns at once; never raises. Failures are logged."""
        try:
            message = mime_message(mail, self.sender)
        except (ValueError, TypeError) as error:  # a header the email package refuses, such as a line break
            logger.error("Mail to=%r subject=%r not sent: %s", mail.to, mail.subject, error)
            self.counters.failed.add(1, {"reason": "refused"})
            return
        if not self._start(self._deliver(message)):
            logger.error(
                "Mail to=%s subject=%r dropped: %d mails and jobs already pending",
                mail.to,
                mail.subject,
                self.pending,
            )
            self.counters.failed.add(1, {"reason": "dropped"})

    def run_later(self, job: Callable[[], Awaitable[None]]) -> None:
        """Runs `job` in the background after the request; its exceptions are logged, not raised."""
        if not self._start(self._run(job)):
            logger.error("Background job %s dropped: %d mails and jobs already pending", job, self.pending)

    async def wait_until_idle(self) -> None:
        """Waits until every queued mail and job has finished or given up (those queued meanwhile too)."""
        while self._pending:
            await asyncio.wait(set(self._pending))

    async def close(self, grace_seconds: float) -> None:
        """At shutdown: waits up to `grace_seconds` for pending mail, then cancels what is left."""
        try:
            async with asyncio.timeout(grace_seconds):
                await self.wait_until_idle()
        except TimeoutError:
            logger.error("Shutting down with %d mails and jobs still pending: they are dropped", self.pending)
            left = set(self._pending)
            for task in left:
                task.cancel()
            await asyncio.wait(left)

    def _start(self, work: Coroutine[Any, Any, None]) -> bool:
        if len(self._pending) >= self.max_backlog:
            work.close()
            return False
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return True

    async def _deliver(self, message: EmailMessage) -> None:
        try:
            await self._deliver_with_retries(message)
        except asyncio.CancelledError:  # at shutdown, past the grace period
            self.counters.failed.add(1, {"reason": "dropped"})
            raise

    async def _deliver_with_retries(self, message: EmailMessage) -> None:
        attempts = len(self.retry_delays) + 1
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            try:
                await self._attempt(message)
            except DeliveryFailed as failure:
                if failure.permanent:
                    logger.error(
                        "Mail to=%s subject=%r refused, not retried: %s",
                        message["To"],
                        message["Subject"],
                        failure.reason,
                    )
                    self.counters.failed.add(1, {"reason": "refused"})
                    return
                if delay is None:
                    logger.error(
                        "Mail to=%s subject=%r given up after %d attempt(s): %s",
                        message["To"],
                        message["Subject"],
                        attempts,
                        failure.reason,
                    )
                    self.counters.failed.add(1, {"reason": "gave_up"})
                    return
                logger.warning(
                    "Mail to=%s subject=%r not delivered (attempt %d of %d): %s; retrying in %g s",
                    message["To"],
                    message["Subject"],
                    attempt,
                    attempts,
                    failure.reason,
                    delay,
                )
                await asyncio.sleep(delay)
            except Exception:  # a bug, not the relay: retrying would meet it again
                logger.exception("Mail to=%s subject=%r not sent", message["To"], message["Subject"])
                self.counters.failed.add(1, {"reason": "error"})
                return
            else:
                self.counters.sent.add(1)
                return

    async def _attempt(self, message: EmailMessage) -> None:
        """One delivery, in a slot (waiting for one is not part of its time)."""
        async with self._delivery_slots:
            try:
                async with asyncio.timeout(self.attempt_timeout):
                    await self.transport.deliver(message)
            except TimeoutError:
                raise DeliveryFailed(
                    f"no answer within {self.attempt_timeout:g} s", permanent=False
                ) from None

    async def _run(self, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except Exception:
            logger.exception("Background job %s failed", job)


def mailer_from_settings(settings: Settings, meter: Meter) -> Mailer:
    """Refuses settings that would not deliver mail (ConfigError): see transport_for."""
    return Mailer(
        transport_for(settings, timeout_seconds=DEFAULT_ATTEMPT_TIMEOUT_SECONDS),
        settings.mail_sender,
        MailCounters(meter),
    )

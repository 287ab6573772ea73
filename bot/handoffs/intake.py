"""Handoffs arriving from the chatbot, and the customer's later messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from bot.clock import Clock
from bot.customer_messages import CustomerMessages, MessageKey
from bot.errors import Conflict, DeskhandError, NotFound
from bot.handoffs import blocks, effects
from bot.handoffs.group_commit import GroupCommit
from bot.handoffs.mapping import reference_for, to_view
from bot.handoffs.payloads import PUBLIC_ID_PATTERN, CustomerMessageIn, HandoffIn
from bot.handoffs.view import HandoffStatus
from bot.metrics import Metrics
from bot.outbox.kinds import OutboxKind
from storage.db import Database
from storage.handoffs import insert_new_handoffs, reference_holder, stored_references
from storage.limits import PUBLIC_ID
from storage.models import Handoff
from storage.outbox import OutboxBuffer, insert_rows

log = structlog.get_logger(__name__)

CLOSED = (HandoffStatus.RESOLVED, HandoffStatus.RETURNED_TO_BOT)
# References tried before giving up: with 40 bits, even the second is needed about once in
# a million handoffs, so running out means something else is wrong.
REFERENCE_ATTEMPTS = 8
_PUBLIC_ID = re.compile(PUBLIC_ID_PATTERN)

References = Callable[[str, int], str]


class Unstorable(DeskhandError):
    """The database refused a handoff's own data: that request fails, not its batch."""

    code = "invalid_payload"
    http_status = 422


@dataclass(frozen=True)
class _Rows:
    outbox: OutboxBuffer


@dataclass(frozen=True)
class Accepted:
    body: dict[str, str]
    created: bool


@dataclass(frozen=True)
class Stored:
    created: bool
    reference: str  # as stored: a repeat answers with the first time's


class HandoffIntake:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        metrics: Metrics,
        ticketing_system: str,
        messages: CustomerMessages,
        references: References = reference_for,
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._ticketing_system = ticketing_system
        self._messages = messages
        # How a handoff id becomes its reference, per attempt (a test may force collisions).
        self.references = references
        self._batches: GroupCommit[dict[str, Any], Stored] = GroupCommit(self._store_batch)

    async def accept(self, payload: HandoffIn) -> Accepted:
        """Store the handoff with its Slack post, ticket and first callback, in one commit.
        A repeated handoff_id changes nothing and answers as the first time."""
        reference = self.references(payload.handoff_id, 0)
        stored = await self._batches.submit(self._values(payload, reference))
        body = {
            "handoff_id": payload.handoff_id,
            "reference": stored.reference,
            "status": HandoffStatus.QUEUED.value,
        }
        if stored.created:
            self._metrics.handoffs.labels(event="received").inc()
            log.info("handoff.accepted", handoff_id=payload.handoff_id, reference=stored.reference)
        return Accepted(body, created=stored.created)

    def _values(self, payload: HandoffIn, reference: str) -> dict[str, Any]:
        now = self._clock.now()
        return {
            "handoff_id": payload.handoff_id,
            "reference": reference,
            "session_id": payload.session_id,
            "status": HandoffStatus.QUEUED.value,
            "priority": payload.priority.value,
            "reason": payload.reason,
            "summary": payload.summary,
            "intent": payload.intent,
            "department": payload.department,
            "locale": payload.locale,
            "customer_id": payload.customer.id,
            "customer_name": payload.customer.name,
            "customer_email": payload.customer.email,
            "transcript": [t.model_dump(mode="json") for t in payload.transcript],
            "evidence": [e.model_dump(mode="json") for e in payload.evidence],
            "suggested_questions": list(payload.suggested_questions),
            "ticket_system": self._ticketing_system,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }

    async def _store_batch(self, batch: Sequence[dict[str, Any]]) -> list[Stored | BaseException]:
        """Write handoffs that arrived together in one transaction (see group_commit.py).
        Should the batch fail for its data (not for a database that is away), each is
        tried on its own, so one bad handoff fails its own request only."""
        try:
            return list(await self._store(batch))
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise  # the database, not a row: every request in the batch gets its 503
        results: list[Stored | BaseException] = []
        for values in batch:
            try:
                results.append(await self._store_alone(values))
            except (DBAPIError, DeskhandError) as exc:
                results.append(exc)
        return results

    async def _store_alone(self, values: dict[str, Any]) -> Stored:
        """One handoff in its own transaction. A unique violation is either a repeat that
        raced us (answered as one) or its reference held by another handoff: then the
        next reference is tried, so a different handoff is never taken for a repeat."""
        handoff_id = values["handoff_id"]
        for attempt in range(REFERENCE_ATTEMPTS):
            reference = self.references(handoff_id, attempt)
            try:
                return (await self._store([{**values, "reference": reference}]))[0]
            except IntegrityError as exc:

                def holders(conn: Connection) -> tuple[str | None, str | None]:
                    mine = stored_references(conn, [handoff_id]).get(handoff_id)
                    return mine, reference_holder(conn, reference)  # noqa: B023

                mine, holder = await self._db.in_one_trip(holders)
                if mine is not None:
                    return Stored(created=False, reference=mine)
                if holder is None or holder == handoff_id:
                    raise Unstorable("The handoff could not be stored.") from exc
                log.warning(
                    "handoff.reference_collision",
                    handoff_id=handoff_id,
                    held_by=holder,
                    reference=reference,
                    attempt=attempt,
                )
            except DBAPIError as exc:
                if exc.connection_invalidated or not _data_error(exc):
                    raise
                raise Unstorable("The handoff could not be stored.") from exc
        raise Unstorable(f"No free reference for {handoff_id} after {REFERENCE_ATTEMPTS} tries.")

    async def _store(self, batch: Sequence[dict[str, Any]]) -> list[Stored]:
        # Each handoff's outbox rows are rendered here, on the loop; the transaction
        # then writes the new handoffs, their events and those rows in one trip.
        outbox: dict[str, list[dict[str, Any]]] = {}
        for values in batch:
            if values["handoff_id"] not in outbox:
                outbox[values["handoff_id"]] = await self._outbox_rows(values)

        def transaction(conn: Connection) -> tuple[dict[str, int], dict[str, str], int]:
            created = insert_new_handoffs(conn, list(batch))
            # Repeats answer with the reference stored the first time (maybe a retry's).
            repeats = stored_references(
                conn, [v["handoff_id"] for v in batch if v["handoff_id"] not in created]
            )
            return created, repeats, insert_rows(conn, [r for h in created for r in outbox[h]])

        created, repeats, written = await self._db.in_one_trip(transaction)
        if written:
            self._db.outbox_committed()
        seen: set[str] = set()
        results = []
        for values in batch:
            handoff_id = values["handoff_id"]
            new = handoff_id in created and handoff_id not in seen
            results.append(Stored(new, repeats.get(handoff_id, values["reference"])))
            seen.add(handoff_id)
        return results

    async def _outbox_rows(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """The Slack post, the ticket and the first status callback of a new handoff."""
        rows = _Rows(OutboxBuffer())
        # The effects read the handoff's fields; nothing is stored through it.
        handoff = Handoff(**values)
        now = values["created_at"]
        await effects.refresh_message(rows, handoff, now=now)
        if blocks.transcript_needs_thread(to_view(handoff)):
            await effects.thread_transcript(rows, handoff, now=now)
        await effects.ticket_operation(
            rows, handoff, OutboxKind.TICKET_CREATE, {}, key="create", now=now
        )
        await effects.tell_customer_status(
            rows,
            handoff,
            HandoffStatus.QUEUED,
            message=self._messages.render(
                MessageKey.QUEUED, handoff.locale, reference=handoff.reference
            ),
            now=now,
        )
        return rows.outbox.rows

    async def customer_message(self, handoff_id: str, message: CustomerMessageIn) -> Accepted:
        now = self._clock.now()
        if len(handoff_id) > PUBLIC_ID or not _PUBLIC_ID.fullmatch(handoff_id):
            raise NotFound("No such handoff.")  # no handoff_id looks like that: not stored
        body = {"handoff_id": handoff_id, "message_id": message.message_id, "status": "accepted"}
        async with self._db.uow() as uow:
            handoff = await uow.handoffs.get(handoff_id)
            if handoff is None:
                raise NotFound(f"No handoff {handoff_id}.")
            if handoff.status in CLOSED:
                raise Conflict(f"Handoff {handoff_id} is {handoff.status}; start a new handoff.")
            stored = await uow.handoffs.add_message(
                handoff.id,
                direction="customer",
                external_id=message.message_id,
                text=message.text,
                at=message.at or now,
                author_id=handoff.customer_id,
                author_name=handoff.customer_name,
            )
            if not stored:
                return Accepted(body, created=False)
            await effects.post_in_thread(
                uow,
                handoff,
                blocks.customer_message(message.text, customer_name=handoff.customer_name),
                key=f"customer:{message.message_id}",
                now=now,
            )
            await effects.ticket_operation(
                uow,
                handoff,
                OutboxKind.TICKET_COMMENT,
                {"body": message.text, "public": True, "author": handoff.customer_name},
                key=f"customer:{message.message_id}",
                now=now,
            )
            await uow.commit()
        log.info("handoff.customer_message", handoff_id=handoff_id, message_id=message.message_id)
        return Accepted(body, created=True)


def _data_error(exc: DBAPIError) -> bool:
    """The row's own fault (SQLSTATE class 22, data exception), not the database's."""
    if isinstance(exc, DataError):
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(code, str) and code.startswith("22")

"""Handoffs arriving from the chatbot, and the customer's later messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.customer_messages import CustomerMessages, MessageKey
from bot.errors import Conflict, NotFound
from bot.handoffs import blocks, effects
from bot.handoffs.group_commit import GroupCommit
from bot.handoffs.mapping import reference_for
from bot.handoffs.payloads import CustomerMessageIn, HandoffIn
from bot.handoffs.view import HandoffStatus
from bot.metrics import Metrics
from bot.outbox.kinds import OutboxKind
from storage.db import Database
from storage.handoffs import insert_new_handoffs
from storage.models import Handoff
from storage.outbox import OutboxBuffer, insert_rows

log = structlog.get_logger(__name__)

CLOSED = (HandoffStatus.RESOLVED, HandoffStatus.RETURNED_TO_BOT)


@dataclass(frozen=True)
class _Rows:
    outbox: OutboxBuffer


@dataclass(frozen=True)
class Accepted:
    body: dict[str, str]
    created: bool


class HandoffIntake:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        metrics: Metrics,
        ticketing_system: str,
        messages: CustomerMessages,
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._ticketing_system = ticketing_system
        self._messages = messages
        self._batches: GroupCommit[dict[str, Any], bool] = GroupCommit(self._store_batch)

    async def accept(self, payload: HandoffIn) -> Accepted:
        """Store the handoff with its Slack post, ticket and first callback, in one commit.
        A repeated handoff_id changes nothing and answers as the first time."""
        reference = reference_for(payload.handoff_id)
        body = {
            "handoff_id": payload.handoff_id,
            "reference": reference,
            "status": HandoffStatus.QUEUED.value,
        }
        created = await self._batches.submit(self._values(payload, reference))
        if created:
            self._metrics.handoffs.labels(event="received").inc()
            log.info("handoff.accepted", handoff_id=payload.handoff_id, reference=reference)
        return Accepted(body, created=created)

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

    async def _store_batch(self, batch: Sequence[dict[str, Any]]) -> list[bool]:
        """Write handoffs that arrived together in one transaction (see group_commit.py);
        for each, whether it was new. Should the batch fail, each is tried on its own, so
        one bad handoff cannot fail the others."""
        try:
            return await self._store(batch)
        except IntegrityError:
            if len(batch) == 1:
                return [False]  # a concurrent delivery of the same handoff_id won
            return [(await self._store_batch([values]))[0] for values in batch]

    async def _store(self, batch: Sequence[dict[str, Any]]) -> list[bool]:
        # Each handoff's outbox rows are rendered here, on the loop; the transaction
        # then writes the new handoffs, their events and those rows in one trip.
        outbox: dict[str, list[dict[str, Any]]] = {}
        for values in batch:
            if values["handoff_id"] not in outbox:
                outbox[values["handoff_id"]] = await self._outbox_rows(values)

        def transaction(conn: Connection) -> tuple[dict[str, int], int]:
            created = insert_new_handoffs(conn, list(batch))
            return created, insert_rows(conn, [r for h in created for r in outbox[h]])

        created, written = await self._db.in_one_trip(transaction)
        if written:
            self._db.outbox_committed()
        seen: set[str] = set()
        results = []
        for values in batch:
            handoff_id = values["handoff_id"]
            results.append(handoff_id in created and handoff_id not in seen)
            seen.add(handoff_id)
        return results

    async def _outbox_rows(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """The Slack post, the ticket and the first status callback of a new handoff."""
        rows = _Rows(OutboxBuffer())
        # The effects read the handoff's fields; nothing is stored through it.
        handoff = Handoff(**values)
        now = values["created_at"]
        await effects.refresh_message(rows, handoff, now=now)
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

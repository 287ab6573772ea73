"""Handoffs, their messages and their audit trail. Transitions are compare-and-set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.limits import clean_text
from storage.models import Handoff, HandoffEvent, HandoffMessage
from storage.upsert import insert_ignore, insert_ignore_many, insert_ignore_statement

# One statement object, reused: executed with parameters, it is compiled and hashed once.
_INSERT_EVENT = insert(HandoffEvent.__table__)  # type: ignore[arg-type]


def insert_new_handoffs(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """In a synchronous transaction (storage/one_trip.py): insert the handoffs not stored
    yet, in one statement, each with its "received" event; handoff_id -> new primary key.
    A handoff_id twice among the rows is inserted once."""
    stmt = insert_ignore_statement(
        conn.dialect.name, Handoff, ["handoff_id"], returning=["id", "handoff_id"]
    )
    result = conn.execute(stmt, rows[0] if len(rows) == 1 else rows)
    created = {str(handoff_id): int(pk) for pk, handoff_id in result}
    if created:
        at = {row["handoff_id"]: row["created_at"] for row in rows}
        conn.execute(
            _INSERT_EVENT,
            [
                {"handoff_pk": pk, "kind": "received", "actor": None, "detail": None, "at": at[h]}
                for h, pk in created.items()
            ],
        )
    return created


def stored_references(conn: Connection, handoff_ids: Sequence[str]) -> dict[str, str]:
    """In a synchronous transaction: handoff_id -> reference of those already stored."""
    if not handoff_ids:
        return {}
    rows = conn.execute(
        select(Handoff.handoff_id, Handoff.reference).where(
            Handoff.handoff_id.in_(list(handoff_ids))
        )
    )
    return {str(handoff_id): str(reference) for handoff_id, reference in rows}


def reference_holder(conn: Connection, reference: str) -> str | None:
    """In a synchronous transaction: the handoff_id that holds ``reference``, if any."""
    holder = conn.execute(
        select(Handoff.handoff_id).where(Handoff.reference == reference)
    ).scalar_one_or_none()
    return None if holder is None else str(holder)


class HandoffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, handoff: Handoff) -> None:
        self._session.add(handoff)
        await self._session.flush()

    async def insert_new(self, values: dict[str, Any]) -> int | None:
        """Insert a handoff unless its handoff_id is stored already: its new primary key,
        or None for a repeat. One statement, no ORM flush (the intake's hot path)."""
        stmt = insert_ignore_many(self._session, Handoff, ["handoff_id"], returning=["id"])
        pk: int | None = await self._session.scalar(stmt, values)
        return pk

    async def insert_new_many(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Insert several at once (one multi-row statement); handoff_id -> new primary
        key for those not stored before."""
        stmt = insert_ignore_many(
            self._session, Handoff, ["handoff_id"], returning=["id", "handoff_id"]
        )
        result = await self._session.execute(stmt, rows)
        return {str(handoff_id): int(pk) for pk, handoff_id in result}

    async def add_events(self, events: list[dict[str, Any]]) -> None:
        """Several audit events at once: dicts of handoff_pk, kind, actor, detail, at."""
        await self._session.execute(_INSERT_EVENT, events)

    async def get(self, handoff_id: str) -> Handoff | None:
        # Ids come from paths, buttons and events: a NUL would fail the query on PostgreSQL.
        return await self._session.scalar(
            select(Handoff).where(Handoff.handoff_id == clean_text(handoff_id))
        )

    async def by_ticket(self, system: str, ticket_id: str) -> Handoff | None:
        return await self._session.scalar(
            select(Handoff).where(
                Handoff.ticket_system == system, Handoff.ticket_id == clean_text(ticket_id)
            )
        )

    async def get_by_reference(self, reference: str) -> Handoff | None:
        return await self._session.scalar(
            select(Handoff).where(Handoff.reference == clean_text(reference))
        )

    async def by_thread(self, channel: str, thread_ts: str) -> Handoff | None:
        return await self._session.scalar(
            select(Handoff).where(
                Handoff.slack_channel == clean_text(channel),
                Handoff.slack_ts == clean_text(thread_ts),
            )
        )

    async def transition(
        self,
        handoff_id: str,
        *,
        from_statuses: Sequence[str],
        values: dict[str, Any],
        claimed_by: str | None = None,
    ) -> bool:
        """Apply `values` only if the handoff is still in one of `from_statuses`
        (and, when given, still claimed by `claimed_by`). Of two racing callers one wins."""
        stmt = update(Handoff).where(
            Handoff.handoff_id == handoff_id, Handoff.status.in_(list(from_statuses))
        )
        if claimed_by is not None:
            stmt = stmt.where(Handoff.claimed_by == claimed_by)
        result = await self._session.execute(
            stmt.values(version=Handoff.version + 1, **values).execution_options(
                synchronize_session=False
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def update(self, handoff_id: str, values: dict[str, Any]) -> None:
        await self._session.execute(
            update(Handoff)
            .where(Handoff.handoff_id == handoff_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def reload(self, handoff_id: str) -> Handoff | None:
        """The stored state, overwriting what this session loaded earlier (after a
        transition, which updates the row without touching loaded objects)."""
        return await self._session.scalar(
            select(Handoff)
            .where(Handoff.handoff_id == handoff_id)
            .execution_options(populate_existing=True)
        )

    async def add_event(
        self, handoff_pk: int, kind: str, *, at: datetime, actor: str | None, detail: str | None
    ) -> None:
        # Core, not session.add: no ORM flush on the claim path.
        await self._session.execute(
            _INSERT_EVENT,
            {"handoff_pk": handoff_pk, "kind": kind, "actor": actor, "detail": detail, "at": at},
        )

    async def recent_events(self, handoff_pk: int, *, limit: int = 3) -> list[HandoffEvent]:
        rows = await self._session.scalars(
            select(HandoffEvent)
            .where(HandoffEvent.handoff_pk == handoff_pk)
            .order_by(HandoffEvent.id.desc())
            .limit(limit)
        )
        return list(reversed(list(rows)))

    async def add_message(
        self,
        handoff_pk: int,
        *,
        direction: str,
        external_id: str,
        text: str,
        at: datetime,
        author_id: str | None = None,
        author_name: str | None = None,
    ) -> bool:
        """Store a message once; redelivery of the same external id returns False."""
        result = await self._session.execute(
            insert_ignore(
                self._session,
                HandoffMessage,
                {
                    "handoff_pk": handoff_pk,
                    "direction": direction,
                    "external_id": external_id,
                    "text": text,
                    "author_id": author_id,
                    "author_name": author_name,
                    "created_at": at,
                },
                ["handoff_pk", "direction", "external_id"],
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def messages(self, handoff_pk: int) -> list[HandoffMessage]:
        rows = await self._session.scalars(
            select(HandoffMessage)
            .where(HandoffMessage.handoff_pk == handoff_pk)
            .order_by(HandoffMessage.id)
        )
        return list(rows)

    async def list_open(self, *, limit: int = 20) -> list[Handoff]:
        rows = await self._session.scalars(
            select(Handoff)
            .where(Handoff.status.in_(["queued", "claimed"]))
            .order_by(Handoff.created_at)
            .limit(limit)
        )
        return list(rows)

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._session.execute(
            select(Handoff.status, func.count()).group_by(Handoff.status)
        )
        return {status: count for status, count in rows}

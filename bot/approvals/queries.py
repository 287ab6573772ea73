"""What `/desk approvals` shows: the open requests, the recent outcomes, one trail."""

from __future__ import annotations

from bot.approvals import blocks
from bot.approvals.mapping import to_view
from bot.errors import NotFound
from storage.db import Database


class ApprovalQueries:
    def __init__(self, db: Database, *, backup_approvers: tuple[str, ...]) -> None:
        self._db = db
        self._backups = backup_approvers

    async def overview(self) -> str:
        async with self._db.reads() as uow:
            pending = await uow.approvals.pending()
            recent = await uow.approvals.recent()
        return blocks.approvals_list_text(
            [to_view(a, backup_approvers=self._backups) for a in pending],
            [to_view(a, backup_approvers=self._backups) for a in recent],
        )

    async def trail(self, request_id: str) -> str:
        async with self._db.reads() as uow:
            approval = await uow.approvals.get(request_id)
            if approval is None:
                raise NotFound(f"No approval request {request_id}.")
            events = await uow.approvals.events(approval.id)
        return blocks.audit_trail_text(to_view(approval, events, backup_approvers=self._backups))

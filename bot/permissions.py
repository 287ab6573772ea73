"""Who may do what. Group ids (S…) are resolved through Slack and cached, so a click's
permission check never waits on the network."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)


class GroupDirectory(Protocol):
    async def group_members(self, group_id: str) -> set[str]: ...


def is_group_id(entry: str) -> bool:
    return entry.startswith("S")


class RoleList:
    """A configured list of Slack user ids and user group ids."""

    def __init__(self, name: str, entries: Iterable[str]) -> None:
        self.name = name
        self.entries = tuple(entries)
        self._users = {e for e in self.entries if not is_group_id(e)}
        self._groups = tuple(e for e in self.entries if is_group_id(e))
        self._members: dict[str, set[str]] = {}

    def __contains__(self, user_id: object) -> bool:
        if not isinstance(user_id, str):
            return False
        return user_id in self._users or any(
            user_id in members for members in self._members.values()
        )

    @property
    def empty(self) -> bool:
        return not self.entries

    async def refresh(self, directory: GroupDirectory) -> None:
        for group in self._groups:
            try:
                self._members[group] = await directory.group_members(group)
            except Exception as exc:
                # Keep the last known members: fail closed only for groups never resolved.
                log.warning(
                    "permissions.group_refresh_failed", role=self.name, group=group, error=str(exc)
                )


class Permissions:
    def __init__(
        self,
        *,
        leads: Iterable[str],
        approvers: Iterable[str] = (),
        backup_approvers: Iterable[str] = (),
    ) -> None:
        self.leads = RoleList("leads", leads)
        self.approvers = RoleList("approvers", approvers)
        self.backup_approvers = RoleList("backup_approvers", backup_approvers)

    def is_lead(self, user_id: str) -> bool:
        return user_id in self.leads

    def may_close(self, user_id: str, *, claimed_by: str | None) -> bool:
        """Release, resolve or hand back: the claimer, or a lead."""
        return (claimed_by is not None and user_id == claimed_by) or self.is_lead(user_id)

    def may_approve(self, user_id: str, *, escalated: bool) -> bool:
        """Decide an approval: an approver, or a backup approver once it was escalated."""
        return user_id in self.approvers or (escalated and user_id in self.backup_approvers)

    async def refresh(self, directory: GroupDirectory) -> None:
        for role in (self.leads, self.approvers, self.backup_approvers):
            await role.refresh(directory)

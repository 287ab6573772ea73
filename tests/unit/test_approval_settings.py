"""Approval settings and the `/desk approvals` command."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from bot.desk_command import Approvals, Unknown, parse_desk_command
from bot.permissions import Permissions


def test_stripe_needs_its_key() -> None:
    with pytest.raises(ConfigError, match="STRIPE_API_KEY is required"):
        load_settings(DESKHAND_PAYMENTS="stripe")


def test_escalation_defaults_to_half_the_expiry_and_needs_backups() -> None:
    assert load_settings(DESKHAND_APPROVAL_EXPIRES_AFTER=600).escalate_approvals_after is None
    with_backups = load_settings(
        DESKHAND_APPROVAL_EXPIRES_AFTER=600, DESKHAND_APPROVAL_BACKUP_APPROVERS="U1, S2"
    )
    assert with_backups.backup_approvers == ("U1", "S2")
    assert with_backups.escalate_approvals_after == 300
    capped = load_settings(
        DESKHAND_APPROVAL_EXPIRES_AFTER=600,
        DESKHAND_APPROVAL_BACKUP_APPROVERS="U1",
        DESKHAND_APPROVAL_ESCALATE_AFTER=9999,
    )
    assert capped.escalate_approvals_after == 600


def test_negative_dual_threshold_is_refused() -> None:
    with pytest.raises(ConfigError, match="DESKHAND_DUAL_APPROVAL_ABOVE"):
        load_settings(DESKHAND_DUAL_APPROVAL_ABOVE=-1)


def test_backup_approvers_decide_only_once_escalated() -> None:
    permissions = Permissions(leads=(), approvers=("U1",), backup_approvers=("U9",))
    assert permissions.may_approve("U1", escalated=False)
    assert not permissions.may_approve("U9", escalated=False)
    assert permissions.may_approve("U9", escalated=True)
    assert not permissions.may_approve("U5", escalated=True)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("approvals", Approvals()),
        ("APPROVALS", Approvals()),
        ("approvals apr-1", Approvals(request_id="apr-1")),
        ("approvals sess-42:esc-1.r_2", Approvals(request_id="sess-42:esc-1.r_2")),
        ("approvals apr-1 apr-2", Unknown(text="approvals apr-1 apr-2")),
        ("approvals <!channel>", Unknown(text="approvals <!channel>")),
    ],
)
def test_desk_approvals_command(text: str, command: object) -> None:
    assert parse_desk_command(text) == command

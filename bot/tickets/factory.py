"""The ticketing system named by DESKHAND_TICKETING, built from its settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.config import Settings
from integrations.http import HttpClient
from integrations.ticketing.custom import CustomTicketing
from integrations.ticketing.intercom import IntercomTicketing
from integrations.ticketing.local import LocalTicketing
from integrations.ticketing.protocol import TicketChanges, TicketEvent, Ticketing, TicketSync
from integrations.ticketing.zendesk import ZendeskTicketing
from storage.db import Database


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get is not None else None


def _required(value: object, name: str) -> str:
    if value is None:  # Settings refuses this at start-up; kept for type narrowing
        raise ValueError(f"{name} is not set")
    return str(value).rstrip("/")


class LocalSync:
    """The built-in system has no one else changing its tickets: nothing to sync."""

    system = "local"

    def parse_webhook(
        self, headers: object, body: bytes, *, now: float
    ) -> list[TicketEvent]:  # pragma: no cover - no route is offered for local
        return []

    async def changes_since(self, cursor: str | None, *, limit: int) -> TicketChanges:
        return TicketChanges(events=(), cursor=None)


def build_ticketing(
    settings: Settings, http: HttpClient, db: Database, *, now: Callable[[], datetime]
) -> tuple[Ticketing, TicketSync]:
    if settings.ticketing == "zendesk":
        zendesk = ZendeskTicketing(
            http,
            url=_required(settings.zendesk_url, "ZENDESK_URL"),
            email=_required(settings.zendesk_email, "ZENDESK_EMAIL"),
            api_token=_required(_secret(settings.zendesk_api_token), "ZENDESK_API_TOKEN"),
            webhook_secret=_secret(settings.zendesk_webhook_secret),
        )
        return zendesk, zendesk
    if settings.ticketing == "intercom":
        intercom = IntercomTicketing(
            http,
            url=_required(settings.intercom_url, "INTERCOM_URL"),
            access_token=_required(
                _secret(settings.intercom_access_token), "INTERCOM_ACCESS_TOKEN"
            ),
            ticket_type_id=settings.intercom_ticket_type_id,
            admin_id=settings.intercom_admin_id,
            client_secret=_secret(settings.intercom_client_secret),
        )
        return intercom, intercom
    if settings.ticketing == "custom":
        custom = CustomTicketing(
            http,
            url=_required(settings.custom_ticketing_url, "CUSTOM_TICKETING_URL"),
            token=_required(_secret(settings.custom_ticketing_token), "CUSTOM_TICKETING_TOKEN"),
            webhook_secret=_secret(settings.custom_ticketing_webhook_secret),
        )
        return custom, custom
    return LocalTicketing(db, now=now), LocalSync()

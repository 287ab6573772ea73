"""The composition root: create_app(settings) builds every object the process needs.

This is the one module of bot/ that reaches up into handlers/ (to install the listeners
and routes on the objects built here); tests/unit/test_layers.py keeps it that way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.after_ack import AfterAck
from bot.approvals.services import ApprovalServices, build_approvals, build_payments
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.customer_messages import CustomerMessages
from bot.desk import DeskService
from bot.handoffs.conversation import HandoffConversation
from bot.handoffs.intake import HandoffIntake
from bot.handoffs.lifecycle import HandoffLifecycle
from bot.jobs import build_scheduler
from bot.metrics import Metrics
from bot.notices import Notices
from bot.outbox.alert_effects import AlertEffects
from bot.outbox.chatbot_effects import ChatbotEffects
from bot.outbox.dispatcher import OutboxDispatcher
from bot.outbox.home_effects import HomeEffects
from bot.outbox.slack_effects import SlackEffects
from bot.outbox.ticket_effects import TicketEffects
from bot.outbox.wiring import build_dispatcher
from bot.permissions import Permissions
from bot.slack_api import call, make_slack_client
from bot.slack_directory import SlackDirectory
from bot.slack_socket import SlackSocket
from bot.tickets.agents import AgentProfiles
from bot.tickets.factory import build_ticketing
from bot.tickets.filing import TicketFiling
from bot.tickets.queue import QueueService
from bot.tickets.retries import RETRY_SWEEP_SECONDS, TicketRetries
from bot.tickets.services import TicketServices
from bot.tickets.sync import TicketSyncService
from integrations.chatbot import ChatbotCallbacks, HttpChatbotCallbacks, NoChatbotCallbacks
from integrations.errors import IntegrationError
from integrations.http import HttpClient
from integrations.payments.protocol import Payments
from integrations.slack_pacing import SlackPacer
from integrations.ticketing.protocol import Ticketing
from storage.db import Database
from storage.migrate import upgrade_database

log = structlog.get_logger(__name__)


@dataclass
class BotIdentity:
    team_id: str | None = None
    user_id: str | None = None
    bot_id: str | None = None


@dataclass
class Deskhand:
    settings: Settings
    clock: Clock
    metrics: Metrics
    db: Database
    http: HttpClient
    slack: AsyncWebClient
    permissions: Permissions
    directory: SlackDirectory
    dispatcher: OutboxDispatcher
    intake: HandoffIntake
    lifecycle: HandoffLifecycle
    conversation: HandoffConversation
    desk: DeskService
    notices: Notices
    tickets: TicketServices
    approvals: ApprovalServices
    after_ack: AfterAck = field(default_factory=AfterAck)
    identity: BotIdentity = field(default_factory=BotIdentity)
    bolt: AsyncApp = field(init=False)
    web: web.Application = field(init=False)
    scheduler: AsyncIOScheduler = field(init=False)
    socket_mode: SlackSocket | None = None
    started: bool = False

    async def start(self) -> None:
        if self.settings.run_migrations:
            await upgrade_database(self.settings.database_url)
        await self.http.start()
        # One long-lived session for Slack too: without it slack_sdk opens a new
        # connection for every call.
        self.slack.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.http_timeout)
        )
        await self.refresh_identity()
        await self.permissions.refresh(self.directory)
        await self.prepare_ticketing()
        self.after_ack.start()
        self.dispatcher.start()
        self.dispatcher.wake()  # deliver whatever a previous run left in the outbox
        self.scheduler.start()
        if self.settings.socket_mode:
            await self._connect_socket_mode()
        self.started = True
        if not self.settings.escalation_channel:
            log.warning(
                "config.missing",
                variable="DESKHAND_ESCALATION_CHANNEL",
                effect="handoffs cannot be posted to Slack",
            )
        log.info("deskhand.started", socket_mode=self.settings.socket_mode)

    async def stop(self) -> None:
        if self.socket_mode is not None:
            await self.socket_mode.stop()
            self.socket_mode = None
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.after_ack.stop()
        await self.dispatcher.stop()
        await self.http.close()
        if self.slack.session is not None:
            await self.slack.session.close()
            self.slack.session = None
        await self.db.dispose()
        self.started = False

    async def prepare_ticketing(self) -> None:
        """Let the ticketing system look up what it needs (Intercom: its ticket type and
        admins); an unreachable system is retried later, it does not stop start-up."""
        prepare = getattr(self.tickets.ticketing, "prepare", None)
        if prepare is None:
            return
        try:
            await prepare()
        except IntegrationError as exc:
            log.warning("ticketing.prepare_failed", system=exc.system, error=str(exc))

    async def refresh_identity(self) -> None:
        if self.identity.user_id is not None:
            return
        try:
            data = await call("auth.test", self.slack.auth_test())
        except Exception as exc:
            log.warning("slack.auth_test_failed", error=str(exc))
            return
        self.identity = BotIdentity(
            team_id=data.get("team_id"), user_id=data.get("user_id"), bot_id=data.get("bot_id")
        )

    def authorize_result(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        """Bolt's authorize: no network call on the ack path (identity cached at start)."""
        token = self.settings.slack_bot_token
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or self.identity.team_id,
            bot_token=token.get_secret_value() if token else None,
            bot_user_id=self.identity.user_id,
            bot_id=self.identity.bot_id,
        )

    def socket_connected(self) -> bool:
        """HTTP mode: always. Socket Mode: the socket was heard from within
        ``DESKHAND_SOCKET_STALE_AFTER`` seconds (bot/slack_socket.py)."""
        if self.socket_mode is None:
            return not self.settings.socket_mode
        return self.socket_mode.alive()

    async def _connect_socket_mode(self) -> None:
        from handlers.slack.socket_mode import dispatcher

        assert self.settings.slack_app_token is not None
        self.socket_mode = SlackSocket(
            app_token=self.settings.slack_app_token.get_secret_value(),
            # The bot's client (its session, its base URL); the call carries the app token.
            web_client=self.slack,
            dispatch=dispatcher(self),
            stale_after=self.settings.socket_stale_after,
        )
        await self.socket_mode.start()


def _callbacks(
    system: str, url: object | None, settings: Settings, http: HttpClient, clock: Clock
) -> ChatbotCallbacks:
    """Signed callbacks to the chatbot or to the AI agent; logged and dropped without a URL."""
    if url is None or settings.webhook_secret is None:

        def log_only(key: str, body: dict[str, Any]) -> None:
            log.warning(
                f"{system}.callback_dropped",
                reason="no callback URL",
                key=key,
                type=body.get("type"),
            )

        return NoChatbotCallbacks(log_only)
    return HttpChatbotCallbacks(
        http,
        url=str(url),
        secret=settings.webhook_secret.get_secret_value(),
        now=lambda: clock.now().timestamp(),
        system=system,
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ticketing: Ticketing | None = None,
    chatbot: ChatbotCallbacks | None = None,
    http: HttpClient | None = None,
    payments: Payments | None = None,
) -> Deskhand:
    from handlers import install  # the composition root is the one place that knows all

    clock = clock or SystemClock()
    metrics = Metrics()
    db = Database(settings.database_url)
    http = http or HttpClient(timeout=settings.http_timeout)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    slack = make_slack_client(
        token=token,
        base_url=str(settings.slack_api_url),
        timeout=settings.http_timeout,
        # Slack's published limits (integrations/slack_pacing.py), shared by every caller.
        pacer=SlackPacer(scale=settings.slack_rate_scale),
    )
    permissions = Permissions(
        leads=settings.leads,
        approvers=settings.approvers,
        backup_approvers=settings.backup_approvers,
    )
    built, sync = build_ticketing(settings, http, db, now=clock.now)
    ticketing = ticketing or built
    chatbot = chatbot or _callbacks("chatbot", settings.chatbot_callback_url, settings, http, clock)
    messages = CustomerMessages.load(Path(settings.messages_dir) if settings.messages_dir else None)
    directory = SlackDirectory(slack)
    profiles = AgentProfiles(db, directory, clock=clock)
    queue = QueueService(
        db,
        messages,
        clock=clock,
        metrics=metrics,
        default_wait=settings.default_wait,
        notify_every=settings.queue_notify_every,
    )
    filing = TicketFiling(
        db,
        ticketing,
        profiles,
        queue,
        messages,
        clock=clock,
        metrics=metrics,
        max_open_claims=settings.max_open_claims,
        offline_retry_interval=settings.offline_retry_interval,
        offline_retry_window=settings.offline_retry_window,
        assignment_retry_base=settings.assignment_retry_base,
    )
    retries = TicketRetries(
        db,
        ticketing,
        filing,
        profiles,
        clock=clock,
        metrics=metrics,
        offline_retry_interval=settings.offline_retry_interval,
        offline_retry_window=settings.offline_retry_window,
        assignment_retry_base=settings.assignment_retry_base,
        assignment_retry_max=settings.assignment_retry_max,
        assignment_max_attempts=settings.assignment_max_attempts,
        per_sweep=max(1, settings.ticket_drain_per_minute * RETRY_SWEEP_SECONDS // 60),
    )

    effects: dict[str, Any] = {}
    slack_effects = SlackEffects(db, slack, clock=clock, channel=settings.escalation_channel)
    effects |= slack_effects.effects()
    effects |= AlertEffects(db, slack, slack_effects, channel=settings.escalation_channel).effects()
    effects |= HomeEffects(db, slack, profiles).effects()
    effects |= ChatbotEffects(db, chatbot, clock=clock).effects()
    effects |= TicketEffects(
        db,
        ticketing,
        filing,
        profiles,
        clock=clock,
        metrics=metrics,
        assignment_retry_base=settings.assignment_retry_base,
    ).effects()
    approvals, approval_effects = build_approvals(
        settings,
        db=db,
        slack=slack,
        slack_effects=slack_effects,
        payments=payments or build_payments(settings, http),
        agent=_callbacks("agent", settings.agent_callback_url, settings, http, clock),
        permissions=permissions,
        clock=clock,
        metrics=metrics,
    )
    effects |= approval_effects
    dispatcher = build_dispatcher(
        settings,
        db,
        effects,
        clock=clock,
        metrics=metrics,
        dead_letter_hooks=approvals.dead_letter_hooks,
    )
    db.set_outbox_listener(dispatcher.wake)
    lifecycle = HandoffLifecycle(
        db, clock=clock, metrics=metrics, permissions=permissions, messages=messages
    )
    app = Deskhand(
        settings=settings,
        clock=clock,
        metrics=metrics,
        db=db,
        http=http,
        slack=slack,
        permissions=permissions,
        directory=directory,
        dispatcher=dispatcher,
        intake=HandoffIntake(
            db,
            clock=clock,
            metrics=metrics,
            ticketing_system=ticketing.system,
            messages=messages,
        ),
        lifecycle=lifecycle,
        conversation=HandoffConversation(db, clock=clock),
        desk=DeskService(db, lifecycle, clock=clock, approvals=approvals.queries),
        notices=Notices(db, clock=clock),
        tickets=TicketServices(
            ticketing=ticketing,
            sync=sync,
            syncing=TicketSyncService(db, sync, lifecycle, profiles, clock=clock, metrics=metrics),
            filing=filing,
            retries=retries,
            queue=queue,
            profiles=profiles,
            messages=messages,
        ),
        approvals=approvals,
    )

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return app.authorize_result(enterprise_id, team_id)

    app.bolt = AsyncApp(
        # Tokenless: the token comes from `authorize`; listeners never call Slack directly.
        client=AsyncWebClient(base_url=str(settings.slack_api_url)),
        # Slack's signature is checked before Bolt sees a request, in both modes: over HTTP
        # by handlers/slack/adapter.py (as every signed endpoint, against the injectable
        # clock; Bolt's own check would use the system clock and crash on a malformed
        # header), and in Socket Mode POST /slack/events acts on nothing (a 404).
        signing_secret="",
        request_verification_enabled=False,
        authorize=authorize,
        # The response goes out when the listener returns, without Bolt's 10 ms
        # ack-polling loop. Clicks ack and hand their work to app.after_ack; message
        # events store the reply first, so an ack means it is kept.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    app.web = web.Application(client_max_size=1024 * 1024 + 1)
    app.scheduler = build_scheduler(app)
    install(app)

    async def on_startup(_: web.Application) -> None:
        await app.start()

    async def on_cleanup(_: web.Application) -> None:
        await app.stop()

    app.web.on_startup.append(on_startup)
    app.web.on_cleanup.append(on_cleanup)
    return app

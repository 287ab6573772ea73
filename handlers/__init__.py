"""Thin entry points: Slack listeners and HTTP routes. Each parses, calls one service,
answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import health
from handlers.expect import refuse_other_methods
from handlers.slack import install as install_slack
from handlers.webhooks import install as install_webhooks
from handlers.webhooks.common import error_middleware, metrics_middleware, serving_middleware

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    app.web.middlewares.append(serving_middleware(app.db.serving))
    app.web.middlewares.append(metrics_middleware(app.metrics))
    app.web.middlewares.append(error_middleware)
    install_slack(app)
    install_webhooks(app)
    health.install(app)
    refuse_other_methods(app.web)

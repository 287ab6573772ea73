"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.jobs import update_gauges
from handlers.expect import add_route

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = {"database": await app.db.ping(), "slack_socket": app.socket_connected()}
        status = 200 if all(checks.values()) else 503
        return web.json_response(
            {"status": "ready" if status == 200 else "not_ready", "checks": checks},
            status=status,
        )

    async def metrics(_: web.Request) -> web.Response:
        # Gauges read from the database at scrape time, so they are never stale.
        await update_gauges(app)
        response = web.Response(body=app.metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    add_route(app.web, "GET", "/healthz", healthz)
    add_route(app.web, "GET", "/readyz", readyz)
    add_route(app.web, "GET", "/metrics", metrics)

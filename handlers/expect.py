"""Routes that answer an ``Expect`` header as deskhand answers everything else.

aiohttp runs a route's expect handler before any middleware. Its default answers
``100-continue`` with a 100, refuses any other expectation with a plain-text 417, and
fails with a 500 when the value is not ASCII (its own error text cannot be encoded).
deskhand ignores an expectation it does not know, as RFC 9110 allows, so the request gets
its usual answer (the contract's JSON for a refusal). Every route is added through
``add_route`` here, with aiohttp's public ``expect_handler`` argument.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def known_expectations_only(request: web.Request) -> None:
    if request.version != HttpVersion11:
        return
    if request.headers.get(hdrs.EXPECT, "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        # The 100 is not part of the response: the body's size counts from here.
        request.writer.output_size = 0


def add_route(web_app: web.Application, method: str, path: str, handler: Handler) -> None:
    web_app.router.add_route(method, path, handler, expect_handler=known_expectations_only)
    if method == hdrs.METH_GET:  # as aiohttp's add_get does
        web_app.router.add_route(
            hdrs.METH_HEAD, path, handler, expect_handler=known_expectations_only
        )


def refuse_other_methods(web_app: web.Application) -> None:
    """Another method on a known path: a 405 from a route of deskhand's own (aiohttp's own
    405 would skip the expect handler above)."""
    for resource in list(web_app.router.resources()):
        if isinstance(resource, web.Resource):
            allowed = {route.method for route in resource}
            resource.add_route(
                hdrs.METH_ANY, _not_allowed(allowed), expect_handler=known_expectations_only
            )


def _not_allowed(allowed: set[str]) -> Handler:
    async def refuse(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMethodNotAllowed(request.method, allowed)

    return refuse

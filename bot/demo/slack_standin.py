"""A Slack Web API stand-in: an aiohttp server on a loopback port.

Used by the local demo and by tests. Point slack_sdk at it with
``AsyncWebClient(token=..., base_url=await standin.start())``. It keeps a small,
plausible workspace (channels, messages with unique increasing ``ts``, threads, reactions,
ephemerals, users, user groups, views, uploaded files; see :mod:`bot.demo.slack_state`,
served by the methods in :mod:`bot.demo.slack_methods`), records every call, reports
contract violations, can be told to fail, and can enforce Slack's rate limits
(``enforce_limits``, :mod:`bot.demo.slack_limits`: HTTP 429 with ``Retry-After``).

Behaviour, as Slack does it: errors are HTTP 200 ``{"ok": false, "error": code}``; the
token comes as ``Authorization: Bearer`` (or a ``token`` field); arguments come from the
query string and a form or JSON body (form-encoded ``blocks``/``attachments``/``view``
are JSON strings and are decoded when recorded). A call that fails, whether by a failure
switch, an auth error or a Slack error, changes no state.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.demo.slack_limits import SlackLimits
from bot.demo.slack_methods import HANDLERS
from bot.demo.slack_state import JSONDict, SlackError, SlackState

Validator = Callable[[str, str, dict[str, Any]], list[str]]

# Arguments whose form-encoded value is a JSON string.
JSON_ARGS = ("blocks", "attachments", "view", "metadata", "files")
# Methods called with the app-level token (Socket Mode), not the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_STATUS_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}


@dataclass
class RecordedCall:
    """One request to ``/api/{method}``, in arrival order.

    ``args`` are the merged query and body arguments with JSON fields decoded and the
    ``token`` field (if any) removed. ``ok`` is whether the answer was HTTP 200 with
    ``ok: true``; ``status`` and ``error`` say what was answered otherwise.
    """

    method: str
    http_method: str
    args: dict[str, Any]
    headers: dict[str, str]
    ok: bool = False
    status: int = 0
    error: str | None = None


@dataclass
class _Failure:
    method: str | None
    status: int
    remaining: int
    retry_after: int | None
    error: str | None


class SlackStandIn:
    """The stand-in server and its state. Start it inside a running event loop."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-demo",  # noqa: S107 - a stand-in's fake token, not a secret
        app_token: str | None = None,
        validator: Validator | None = None,
        team_id: str = "T0DEMO",
        bot_user_id: str = "U0DESKHAND",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token  # Socket Mode's app-level token (xapp-...), if any
        self.validator = validator
        self.state = SlackState(team_id=team_id, bot_user_id=bot_user_id)
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self.url = ""  # server root, "http://127.0.0.1:PORT/"
        self.base_url = ""  # "http://127.0.0.1:PORT/api/"
        self._failures: list[_Failure] = []
        self._down = False
        self._lost: dict[str, int] = {}
        self._delay = 0.0
        self._runner: web.AppRunner | None = None
        self.limits: SlackLimits | None = None  # enforce_limits() turns them on

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); return the base URL ending in /api/."""
        if self._runner is not None:
            raise RuntimeError("SlackStandIn is already started")
        app = web.Application()
        for verb in ("GET", "POST"):
            app.router.add_route(verb, "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        netloc = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{netloc}:{bound_port}/"
        self.base_url = f"{self.url}api/"
        self.state.upload_base = f"{self.url}upload/"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> SlackStandIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- workspace set-up --------------------------------------------------------------

    def add_user(self, user_id: str, name: str, real_name: str, email: str | None = None) -> None:
        self.state.add_user(user_id, name, real_name, email)

    def add_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        self.state.usergroups[group_id] = list(user_ids)

    def add_channel(
        self, channel_id: str, name: str | None = None, *, is_private: bool = False
    ) -> None:
        """Register a channel (posting to an unknown id also creates it)."""
        self.state.add_channel(channel_id, name, is_private)

    def serve_socket(self, url: Callable[[], str]) -> None:
        """Socket Mode: apps.connections.open answers ``url()`` (a fresh URL each call)."""
        self.state.socket_url = url

    def post_as_user(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> str:
        """A message written by a person (not recorded as a call); returns its ts."""
        args: JSONDict = {"text": text, "thread_ts": thread_ts}
        return str(self.state.add_message(channel, user, args)["ts"])

    # -- failure switches --------------------------------------------------------------

    def fail_next(
        self,
        method: str | None = None,
        *,
        status: int = 503,
        count: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        """Fail the next ``count`` calls to ``method`` (None: to any method).

        With ``retry_after`` the answer is HTTP 429 with a ``Retry-After`` header (Slack's
        rate limiting), whatever ``status`` says. ``error`` sets the body's error code;
        with ``status=200`` that gives an ordinary Slack error such as channel_not_found.
        """
        if retry_after is not None:
            status = 429
        self._failures.append(_Failure(method, status, count, retry_after, error))

    def lose_next_response(self, method: str, *, count: int = 1) -> None:
        """Carry out the next ``count`` calls to ``method`` but answer HTTP 503, as when
        the caller crashes or times out after Slack did the work."""
        self._lost[method] = self._lost.get(method, 0) + count

    def go_down(self) -> None:
        """Answer every call with HTTP 503 (still recorded, ok=False) until come_back()."""
        self._down = True

    def come_back(self) -> None:
        self._down = False

    def enforce_limits(
        self, *, scale: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> SlackLimits:
        """Answer 429 past Slack's limits, ``scale`` times faster; ``limits.refusals``."""
        self.limits = SlackLimits(scale=scale, monotonic=monotonic)
        return self.limits

    def slow(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each call (0 turns it off)."""
        self._delay = max(0.0, seconds)

    def reset(self, *, state: bool = False) -> None:
        """Forget calls and violations and clear the failure switches.

        With ``state=True`` also forget messages, ephemerals, views and files (channels,
        users and user groups stay).
        """
        self.calls.clear()
        self.violations.clear()
        self._failures.clear()
        self._down = False
        self._delay = 0.0
        if state:
            self.state.clear()

    # -- assertions --------------------------------------------------------------------

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[JSONDict]:
        """Top-level messages of ``channel`` (with thread broadcasts), oldest first."""
        return copy.deepcopy(self.state.top_level(channel))

    def replies(self, channel: str, thread_ts: str) -> list[JSONDict]:
        """The replies in a thread, oldest first, without the parent message."""
        return copy.deepcopy(self.state.thread(channel, thread_ts)[1:])

    def ephemerals(self, channel: str, user: str) -> list[JSONDict]:
        return copy.deepcopy(self.state.ephemeral.get((channel, user), []))

    def view(self, view_id: str) -> JSONDict | None:
        return copy.deepcopy(self.state.views.get(view_id))

    def home_view(self, user_id: str) -> JSONDict | None:
        view_id = self.state.home_views.get(user_id)
        return None if view_id is None else self.view(view_id)

    def file_content(self, file_id: str) -> bytes | None:
        content = self.state.files.get(file_id, {}).get("content")
        return content if isinstance(content, bytes) else None

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the helper's documented interface
        *,
        description: str | None = None,
    ) -> None:
        """Poll ``predicate`` every 0.01 s; AssertionError if still false after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                what = description or getattr(predicate, "__name__", repr(predicate))
                recent = ", ".join(
                    f"{c.method}={'ok' if c.ok else c.error or c.status}" for c in self.calls[-10:]
                )
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; "
                    f"{len(self.calls)} calls, last: [{recent}]; violations: {self.violations}"
                )
            await asyncio.sleep(0.01)

    # -- HTTP --------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, body_error = await _read_args(request)
        token = args.pop("token", None)
        headers = {str(k): v for k, v in request.headers.items()}
        call = RecordedCall(method, request.method, args, headers)
        self.calls.append(call)
        self._check(call, request.headers.get("Authorization", ""), token)
        if self._delay:
            await asyncio.sleep(self._delay)
        if self._down:
            return _answer(call, 503, None, None)
        failure = self._take_failure(method)
        if failure is not None:
            return _answer(call, failure.status, failure.error, failure.retry_after)
        limited = self.limits.check(method, args) if self.limits is not None else None
        if limited is not None:
            return _answer(call, 429, None, limited)
        error = body_error or self._auth_error(
            method, request.headers.get("Authorization", ""), token
        )
        handler = HANDLERS.get(method)
        if error is None and handler is None:
            error = "unknown_method"
        if error is not None or handler is None:
            return _answer(call, 200, error, None)
        try:
            result = handler(self.state, args)
        except SlackError as exc:
            return _answer(call, 200, exc.code, None)
        if self._lost.get(method):
            self._lost[method] -= 1
            return _answer(call, 503, None, None)
        call.ok, call.status = True, 200
        return web.json_response({"ok": True, **result})

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL from files.getUploadURLExternal (not recorded as a call)."""
        stored = self.state.files.get(request.match_info["file_id"])
        if self._down:
            return web.Response(status=503, text="service unavailable")
        if stored is None:
            return web.Response(status=404, text="file not found")
        data = await request.read()
        if request.content_type == "multipart/form-data":
            form = await request.post()
            fields = [v for v in form.values() if isinstance(v, web.FileField)]
            data = fields[0].file.read() if fields else b""
        stored["content"] = data
        return web.Response(text=f"OK - {len(data)}")

    def _check(self, call: RecordedCall, authorization: str, token: Any) -> None:
        """Record what is wrong with a call as sent, whatever the answer will be."""
        problems: list[str] = []
        if not authorization.startswith("Bearer "):
            where = " (token sent as a field)" if token else ""
            problems.append(f"no 'Authorization: Bearer' header{where}")
        if call.method not in HANDLERS:
            problems.append("unknown_method (not implemented by the stand-in)")
        if self.validator is not None:
            try:
                problems += self.validator(call.method, call.http_method, copy.deepcopy(call.args))
            except Exception as exc:  # a broken validator must not break the server
                problems.append(f"validator raised {exc!r}")
        self.violations += [f"{call.method}: {p}" for p in problems]

    def _auth_error(self, method: str, authorization: str, token: Any) -> str | None:
        if authorization.startswith("Bearer "):
            presented = authorization[len("Bearer ") :].strip()
        elif token:
            presented = str(token)
        else:
            return "not_authed"
        # As Slack: apps.connections.open takes the app-level token and nothing else does.
        wanted: str | None = self.bot_token
        other = self.app_token
        if method in APP_TOKEN_METHODS:
            wanted, other = self.app_token, self.bot_token
        if wanted is not None and presented == wanted:
            return None
        return "not_allowed_token_type" if presented == other else "invalid_auth"

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method in (None, method):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None


def _answer(
    call: RecordedCall, status: int, error: str | None, retry_after: int | None
) -> web.Response:
    call.ok, call.status = False, status
    call.error = error or _STATUS_ERRORS.get(status, "fatal_error")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response({"ok": False, "error": call.error}, status=status, headers=headers)


async def _read_args(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Query string plus body arguments (body wins), and a Slack error for a bad body."""
    args: dict[str, Any] = dict(request.query)
    error: str | None = None
    if request.body_exists:
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = json.loads(await request.text())
            except ValueError:
                body, error = {}, "invalid_json"
            if isinstance(body, dict):
                args.update(body)
            else:
                error = "json_not_object"
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                args[key] = value if isinstance(value, str) else f"<file {value!r:.40}>"
        elif await request.read():
            error = "invalid_post_type"
    for key in JSON_ARGS:
        raw = args.get(key)
        if isinstance(raw, str) and raw[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):  # if not JSON: kept as sent, for the validator
                args[key] = json.loads(raw)
    return args, error

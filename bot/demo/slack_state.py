"""The workspace state behind :class:`bot.demo.slack_standin.SlackStandIn`.

Plain synchronous code: channels, messages (with threads and reactions), ephemerals, users,
user groups, views and uploaded files, plus the ts/id counters. The Web API methods that
read and change it live in :mod:`bot.demo.slack_methods`. Nothing here knows about HTTP.
Argument values may be form strings or decoded JSON values.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSONDict = dict[str, Any]

TS_BASE_SECONDS = 1_700_000_000  # the first ts is "1700000000.000100"
TS_STEP_MICROS = 100


class SlackError(Exception):
    """A Slack error code, answered as HTTP 200 ``{"ok": false, "error": code}``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def ts_key(ts: Any, error: str = "invalid_ts") -> int:
    """A Slack ts ("1700000000.000100") as integer microseconds, for ordering."""
    text = str(ts)
    seconds, _, fraction = text.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise SlackError(error)
    return int(seconds) * 1_000_000 + int((fraction or "0").ljust(6, "0")[:6])


def flag(value: Any) -> bool:
    """A boolean argument as sent in a form ("1", "true") or JSON (true)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)


def str_arg(args: JSONDict, name: str) -> str:
    """An argument as a string; missing or null is ""."""
    value = args.get(name)
    return "" if value is None else str(value)


@dataclass
class SlackState:
    team_id: str
    bot_user_id: str
    team_domain: str = "deskhand-demo"
    upload_base: str = ""  # "http://127.0.0.1:PORT/upload/", set by the stand-in
    channels: dict[str, JSONDict] = field(default_factory=dict)
    history: dict[str, list[JSONDict]] = field(default_factory=dict)  # ts order, incl. replies
    ephemeral: dict[tuple[str, str], list[JSONDict]] = field(default_factory=dict)
    users: dict[str, JSONDict] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    views: dict[str, JSONDict] = field(default_factory=dict)
    home_views: dict[str, str] = field(default_factory=dict)  # user id -> view id
    files: dict[str, JSONDict] = field(default_factory=dict)
    # Socket Mode: a new WebSocket URL for apps.connections.open (None: no socket server).
    socket_url: Callable[[], str] | None = None
    _seq: int = 0

    def __post_init__(self) -> None:
        self.add_user(self.bot_user_id, "deskhand", "Deskhand", is_bot=True)

    @property
    def bot_id(self) -> str:
        return "B" + self.bot_user_id[1:]

    def clear(self) -> None:
        """Forget messages, views and files; keep channels, users and user groups."""
        self.history.clear()
        self.ephemeral.clear()
        self.views.clear()
        self.home_views.clear()
        self.files.clear()
        for channel in self.channels:
            self.history[channel] = []

    # -- registries -------------------------------------------------------------------

    def next_ts(self) -> str:
        self._seq += 1
        micros = TS_BASE_SECONDS * 1_000_000 + self._seq * TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}0{self._seq:09d}"

    def add_channel(
        self, channel_id: str, name: str | None = None, is_private: bool = False
    ) -> None:
        self.channels[channel_id] = {
            "id": channel_id,
            "name": name or channel_id.lower(),
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": channel_id.startswith("D"),
            "is_private": is_private,
            "is_archived": False,
            "is_member": True,
            "created": TS_BASE_SECONDS,
            "creator": self.bot_user_id,
        }
        self.history.setdefault(channel_id, [])

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str,
        email: str | None = None,
        *,
        is_bot: bool = False,
    ) -> None:
        profile: JSONDict = {"real_name": real_name, "display_name": name}
        if email:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name,
            "deleted": False,
            "is_bot": is_bot,
            "is_admin": False,
            "tz": "Europe/London",
            "profile": profile,
        }

    def channel(self, channel: str, *, create: bool = False) -> str:
        """Resolve an id or "#name"; optionally create an unknown id."""
        if channel.startswith("#"):
            for channel_id, info in self.channels.items():
                if info["name"] == channel[1:]:
                    return channel_id
            raise SlackError("channel_not_found")
        if channel not in self.channels:
            if not create or not channel:
                raise SlackError("channel_not_found")
            self.add_channel(channel)
        return channel

    def find(self, channel: str, ts: str) -> JSONDict:
        for message in self.history.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    # -- views of the state --------------------------------------------------------------

    def top_level(self, channel: str) -> list[JSONDict]:
        return [
            m
            for m in self.history.get(channel, [])
            if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
        ]

    def thread(self, channel: str, thread_ts: str) -> list[JSONDict]:
        parent = [m for m in self.history.get(channel, []) if m["ts"] == thread_ts]
        replies = [
            m
            for m in self.history.get(channel, [])
            if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
        ]
        return parent + replies

    # -- writing -------------------------------------------------------------------------

    def add_message(self, channel: str, user: str, args: JSONDict) -> JSONDict:
        """Append a message from ``user`` built from chat.postMessage-like ``args``."""
        thread_ts = str_arg(args, "thread_ts")
        parent: JSONDict | None = None
        if thread_ts:  # check before changing anything: a failed post changes nothing
            try:  # unknown thread: an error here (real Slack would post an orphan reply)
                known = self.channel(channel)
                parent = self.find(known, thread_ts)
                parent = self.find(known, parent.get("thread_ts") or parent["ts"])
            except SlackError as exc:
                raise SlackError("thread_not_found") from exc
        channel = self.channel(channel, create=True)
        ts = self.next_ts()
        message: JSONDict = {"type": "message", "ts": ts, "user": user, "team": self.team_id}
        message["text"] = str_arg(args, "text") or str_arg(args, "markdown_text")
        if user == self.bot_user_id:
            message["bot_id"] = self.bot_id
        for key in ("blocks", "attachments", "metadata", "files"):
            if args.get(key) is not None:
                message[key] = copy.deepcopy(args[key])
        if parent is not None:  # a reply's ts was given: thread under its parent, like Slack
            parent_ts = parent["ts"]
            message["thread_ts"] = parent_ts
            message["parent_user_id"] = parent["user"]
            if flag(args.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
            parent["thread_ts"] = parent_ts
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            users = parent.setdefault("reply_users", [])
            if user not in users:
                users.append(user)
            parent["reply_users_count"] = len(users)
            parent["latest_reply"] = ts
        self.history[channel].append(message)
        return message

    def permalink(self, channel: str, ts: str) -> str:
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = self.find(channel, ts).get("thread_ts")
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link

    def make_view(self, view: Any, view_id: str | None = None, root: str | None = None) -> JSONDict:
        if not isinstance(view, dict) or "type" not in view:
            raise SlackError("invalid_arguments")
        view_id = view_id or self.next_id("V")
        stored: JSONDict = {
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
            **copy.deepcopy(view),
            "id": view_id,
            "team_id": self.team_id,
            "hash": f"{self.next_ts()}.{view_id[-6:].lower()}",
            "root_view_id": root or view_id,
            "previous_view_id": None,
            "app_id": "A0DESKHAND",
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return stored

"""The workspace state behind :class:`bot.demo.slack_standin.SlackStandIn`.

Plain synchronous code: each Web API method is a function of (state, args) that returns
the response body or raises :class:`SlackError` with a Slack error code. Nothing here
knows about HTTP. Argument values may be form strings or decoded JSON values.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
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


def _str(args: JSONDict, name: str) -> str:
    value = args.get(name)
    return "" if value is None else str(value)


def _require(args: JSONDict, name: str, error: str = "invalid_arguments") -> str:
    value = _str(args, name)
    if not value:
        raise SlackError(error)
    return value


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise SlackError("invalid_cursor") from exc
    if not text.startswith("next_ts:"):
        raise SlackError("invalid_cursor")
    return ts_key(text[len("next_ts:") :], "invalid_cursor")


def _limit(args: JSONDict, default: int, maximum: int) -> int:
    try:
        limit = int(str(args.get("limit") or 0))
    except ValueError as exc:
        raise SlackError("invalid_limit") from exc
    return default if limit <= 0 else min(limit, maximum)


def _page(
    items: list[JSONDict], args: JSONDict, default: int, maximum: int, *, newest_first: bool
) -> JSONDict:
    """Window by oldest/latest/inclusive, then paginate with a ts cursor in list order."""
    inclusive = flag(args.get("inclusive"))
    oldest = ts_key(args.get("oldest") or 0, "invalid_ts_oldest")
    latest_raw = args.get("latest")
    latest = ts_key(latest_raw, "invalid_ts_latest") if latest_raw else None

    def keep(message: JSONDict) -> bool:
        key = ts_key(message["ts"])
        above = key >= oldest if inclusive else key > oldest
        below = latest is None or (key <= latest if inclusive else key < latest)
        return above and below

    window = [m for m in items if keep(m)]
    if args.get("cursor"):
        after = _decode_cursor(str(args["cursor"]))
        window = [
            m
            for m in window
            if (ts_key(m["ts"]) < after if newest_first else ts_key(m["ts"]) > after)
        ]
    limit = _limit(args, default, maximum)
    page, rest = window[:limit], window[limit:]
    next_cursor = _cursor(page[-1]["ts"]) if rest else ""
    return {
        "messages": copy.deepcopy(page),
        "has_more": bool(rest),
        "response_metadata": {"next_cursor": next_cursor},
    }


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
        thread_ts = _str(args, "thread_ts")
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
        message["text"] = _str(args, "text") or _str(args, "markdown_text")
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


# -- Web API methods -------------------------------------------------------------------

Handler = Callable[[SlackState, JSONDict], JSONDict]


def auth_test(s: SlackState, args: JSONDict) -> JSONDict:
    return {
        "url": f"https://{s.team_domain}.slack.com/",
        "team": "Deskhand Demo",
        "user": s.users[s.bot_user_id]["name"],
        "team_id": s.team_id,
        "user_id": s.bot_user_id,
        "bot_id": s.bot_id,
        "is_enterprise_install": False,
    }


def _has_content(args: JSONDict) -> bool:
    return any(args.get(k) for k in ("text", "blocks", "attachments", "markdown_text"))


def chat_post_message(s: SlackState, args: JSONDict) -> JSONDict:
    channel = _require(args, "channel", "channel_not_found")
    if not _has_content(args):  # checked first: a failed post changes nothing
        raise SlackError("no_text")
    message = s.add_message(channel, s.bot_user_id, args)
    channel = s.channel(channel)  # "#name" -> id
    return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}


def chat_update(s: SlackState, args: JSONDict) -> JSONDict:
    channel = s.channel(_require(args, "channel", "channel_not_found"))
    message = s.find(channel, _require(args, "ts", "message_not_found"))
    if message["user"] != s.bot_user_id:
        raise SlackError("cant_update_message")
    if not _has_content(args):
        raise SlackError("no_text")
    for key in ("text", "blocks", "attachments", "metadata"):
        if key in args:
            message[key] = copy.deepcopy(args[key])
    if "markdown_text" in args:
        message["text"] = args["markdown_text"]
    message["edited"] = {"user": s.bot_user_id, "ts": s.next_ts()}
    return {
        "channel": channel,
        "ts": message["ts"],
        "text": message.get("text", ""),
        "message": copy.deepcopy(message),
    }


def chat_post_ephemeral(s: SlackState, args: JSONDict) -> JSONDict:
    user = _require(args, "user", "user_not_in_channel")
    if not _has_content(args):
        raise SlackError("no_text")
    channel = s.channel(_require(args, "channel", "channel_not_found"), create=True)
    ts = s.next_ts()
    message: JSONDict = {"type": "message", "subtype": "ephemeral", "ts": ts, "user": user}
    message["bot_id"] = s.bot_id
    for key in ("text", "blocks", "attachments", "thread_ts"):
        if args.get(key) is not None:
            message[key] = copy.deepcopy(args[key])
    s.ephemeral.setdefault((channel, user), []).append(message)
    return {"message_ts": ts}


def chat_get_permalink(s: SlackState, args: JSONDict) -> JSONDict:
    channel = s.channel(_require(args, "channel", "channel_not_found"))
    ts = _require(args, "message_ts", "message_not_found")
    return {"channel": channel, "permalink": s.permalink(channel, ts)}


def conversations_history(s: SlackState, args: JSONDict) -> JSONDict:
    channel = s.channel(_require(args, "channel", "channel_not_found"))
    newest_first = list(reversed(s.top_level(channel)))
    result = _page(newest_first, args, default=100, maximum=999, newest_first=True)
    return {**result, "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0}


def conversations_replies(s: SlackState, args: JSONDict) -> JSONDict:
    channel = s.channel(_require(args, "channel", "channel_not_found"))
    ts = _require(args, "ts", "thread_not_found")
    try:
        parent = s.find(channel, ts)
    except SlackError as exc:
        raise SlackError("thread_not_found") from exc
    thread = s.thread(channel, parent.get("thread_ts") or parent["ts"])
    return _page(thread, args, default=1000, maximum=1000, newest_first=False)


def conversations_info(s: SlackState, args: JSONDict) -> JSONDict:
    channel = s.channel(_require(args, "channel", "channel_not_found"))
    return {"channel": copy.deepcopy(s.channels[channel])}


def reactions_add(s: SlackState, args: JSONDict) -> JSONDict:
    channel = s.channel(_require(args, "channel", "channel_not_found"))
    message = s.find(channel, _require(args, "timestamp", "no_item_specified"))
    name = _require(args, "name", "invalid_name").strip(":")
    reactions: list[JSONDict] = message.setdefault("reactions", [])
    for reaction in reactions:
        if reaction["name"] == name:
            if s.bot_user_id in reaction["users"]:
                raise SlackError("already_reacted")
            reaction["users"].append(s.bot_user_id)
            reaction["count"] += 1
            return {}
    reactions.append({"name": name, "users": [s.bot_user_id], "count": 1})
    return {}


def users_info(s: SlackState, args: JSONDict) -> JSONDict:
    user = s.users.get(_str(args, "user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": copy.deepcopy(user)}


def usergroups_users_list(s: SlackState, args: JSONDict) -> JSONDict:
    group = s.usergroups.get(_str(args, "usergroup"))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group)}


def views_open(s: SlackState, args: JSONDict) -> JSONDict:
    if not (args.get("trigger_id") or args.get("interactivity_pointer")):
        raise SlackError("invalid_arguments")
    return {"view": copy.deepcopy(s.make_view(args.get("view")))}


def views_update(s: SlackState, args: JSONDict) -> JSONDict:
    view_id = _str(args, "view_id")
    if not view_id:
        external = _str(args, "external_id")
        matches = [v["id"] for v in s.views.values() if external and v["external_id"] == external]
        view_id = matches[0] if matches else ""
    old = s.views.get(view_id)
    if old is None:
        raise SlackError("not_found")
    if args.get("hash") and args["hash"] != old["hash"]:
        raise SlackError("hash_conflict")
    return {"view": copy.deepcopy(s.make_view(args.get("view"), view_id, old["root_view_id"]))}


def views_publish(s: SlackState, args: JSONDict) -> JSONDict:
    user_id = _require(args, "user_id", "invalid_arguments")
    old_id = s.home_views.get(user_id)
    if old_id and args.get("hash") and args["hash"] != s.views[old_id]["hash"]:
        raise SlackError("hash_conflict")
    view = s.make_view(args.get("view"), old_id)
    s.home_views[user_id] = view["id"]
    return {"view": copy.deepcopy(view)}


# files.getUploadURLExternal / files.completeUploadExternal are newer than the 2021 spec.
# They are accepted by their documented arguments (docs.slack.dev/reference/methods/...):
# getUploadURLExternal(filename, length, alt_txt?, snippet_type?) and
# completeUploadExternal(files=[{id, title?}], channel_id?, channels?, initial_comment?,
# thread_ts?, blocks?). The upload URL is served by the stand-in itself.
def files_get_upload_url_external(s: SlackState, args: JSONDict) -> JSONDict:
    filename = _require(args, "filename", "invalid_arguments")
    try:
        length = int(_require(args, "length", "invalid_arguments"))
    except ValueError as exc:
        raise SlackError("invalid_arguments") from exc
    file_id = s.next_id("F")
    s.files[file_id] = {"id": file_id, "name": filename, "title": filename, "length": length}
    return {"upload_url": f"{s.upload_base}{file_id}", "file_id": file_id}


def files_complete_upload_external(s: SlackState, args: JSONDict) -> JSONDict:
    entries = args.get("files")
    if isinstance(entries, str):
        try:
            entries = json.loads(entries)
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments")
    pairs: list[tuple[JSONDict, JSONDict]] = []
    for entry in entries:
        stored = s.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
        if stored is None or "content" not in stored:  # never uploaded to the upload URL
            raise SlackError("file_not_found")
        pairs.append((stored, entry))
    for stored, entry in pairs:
        stored["title"] = entry.get("title") or stored["title"]
    public = [{k: v for k, v in f.items() if k != "content"} for f, _ in pairs]
    channels = [c for c in [_str(args, "channel_id"), *_str(args, "channels").split(",")] if c]
    for channel in channels:
        share = {k: args[k] for k in ("thread_ts", "blocks") if args.get(k)}
        text = _str(args, "initial_comment")
        s.add_message(channel, s.bot_user_id, {**share, "text": text, "files": public})
    return {"files": copy.deepcopy(public)}


HANDLERS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.info": conversations_info,
    "reactions.add": reactions_add,
    "users.info": users_info,
    "usergroups.users.list": usergroups_users_list,
    "views.open": views_open,
    "views.update": views_update,
    "views.publish": views_publish,
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
}

"""The Slack Web API methods of :class:`bot.demo.slack_standin.SlackStandIn`.

Plain synchronous code: each Web API method is a function of (state, args) that returns
the response body or raises :class:`SlackError` with a Slack error code. ``HANDLERS``
maps method names to them. Nothing here knows about HTTP. Argument values may be form
strings or decoded JSON values.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Callable

from bot.demo.slack_state import JSONDict, SlackError, SlackState, flag, str_arg, ts_key

# -- arguments and pagination ----------------------------------------------------------


def _require(args: JSONDict, name: str, error: str = "invalid_arguments") -> str:
    value = str_arg(args, name)
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
    user = s.users.get(str_arg(args, "user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": copy.deepcopy(user)}


def usergroups_users_list(s: SlackState, args: JSONDict) -> JSONDict:
    group = s.usergroups.get(str_arg(args, "usergroup"))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group)}


def views_open(s: SlackState, args: JSONDict) -> JSONDict:
    if not (args.get("trigger_id") or args.get("interactivity_pointer")):
        raise SlackError("invalid_arguments")
    return {"view": copy.deepcopy(s.make_view(args.get("view")))}


def views_update(s: SlackState, args: JSONDict) -> JSONDict:
    view_id = str_arg(args, "view_id")
    if not view_id:
        external = str_arg(args, "external_id")
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
    named = [str_arg(args, "channel_id"), *str_arg(args, "channels").split(",")]
    channels = [c for c in named if c]
    for channel in channels:
        share = {k: args[k] for k in ("thread_ts", "blocks") if args.get(k)}
        text = str_arg(args, "initial_comment")
        s.add_message(channel, s.bot_user_id, {**share, "text": text, "files": public})
    return {"files": copy.deepcopy(public)}


def apps_connections_open(s: SlackState, args: JSONDict) -> JSONDict:
    """Socket Mode's URL (the stand-in checks the app-level token before this runs)."""
    if s.socket_url is None:
        raise SlackError("internal_error")
    return {"url": s.socket_url()}


HANDLERS: dict[str, Handler] = {
    "apps.connections.open": apps_connections_open,
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

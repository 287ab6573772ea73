"""The Slack bot scopes deskhand needs, derived from its source (tests/unit/test_manifest.py).

The Slack Web API methods the code calls are found in its source (slack_sdk client calls
such as ``self._client.chat_postMessage(...)``, and the method names given to
``bot.slack_api.call``); each method's scopes come from the Slack Web API spec the tests
ship (its ``security`` field). The events and commands the code listens to (Bolt's
``.event(...)`` and ``.command(...)``) add the scopes Slack's event reference names.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from tests.support.slack_spec import SlackSpec

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("bot", "handlers", "integrations")

# deskhand works in the public and private channels it is invited to ("channels" and
# "groups" in Slack's scope names); it has no direct-message surface (the App Home has no
# messages tab), so the spec's im:/mpim: alternatives are not needed.
CONVERSATION_TYPES = ("channels", "groups")
CONVERSATION_SCOPE = re.compile(r"^(channels|groups|im|mpim):")
# Scopes a method needs for a field deskhand reads from its answer, beyond the method's own
# (Slack's users.info returns profile.email only with users:read.email). Each comes with the
# code that reads the field, so the scope goes when the reading does.
FIELD_SCOPES: dict[str, tuple[str, str]] = {
    "users.info": ("users:read.email", 'profile.get("email")'),
}
# Methods called with the app-level token (xapp-), whose scopes are the app token's, not
# the bot's: Socket Mode opens its connection with connections:write.
APP_TOKEN_METHODS = {"apps.connections.open": "connections:write"}
# Called by Bolt itself (not in deskhand's source): auth.test checks the bot token at start.
LIBRARY_METHODS = {"auth.test"}
# Events API: the scope each event needs (docs.slack.dev/reference/events/<event>).
EVENT_SCOPES: dict[str, set[str]] = {
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "message.im": {"im:history"},
    "message.mpim": {"mpim:history"},
    "app_mention": {"app_mentions:read"},
    "app_home_opened": set(),
    "reaction_added": {"reactions:read"},
    "member_joined_channel": {"channels:read", "groups:read"},
}
# Any slash command needs the commands scope.
COMMAND_SCOPE = "commands"


@functools.cache
def spec_security() -> dict[str, list[str]]:
    """Each Web API method's scopes as the shipped spec lists them (alternatives)."""
    document = json.loads(SlackSpec.load().path.read_text(encoding="utf-8"))
    scopes: dict[str, list[str]] = {}
    for raw_path, verbs in document["paths"].items():
        operation = next(iter(verbs.values()))
        listed = [s for entry in operation.get("security", []) for s in entry.get("slackAuth", [])]
        scopes[raw_path.lstrip("/")] = listed
    return scopes


@functools.cache
def client_methods() -> dict[str, str]:
    """slack_sdk's AsyncWebClient attribute -> the Web API method it calls."""
    found: dict[str, str] = {}
    for name, function in inspect.getmembers(AsyncWebClient, inspect.iscoroutinefunction):
        if name.startswith("_"):
            continue
        match = re.search(r'api_call\(\s*"([\w.]+)"', inspect.getsource(function))
        if match:
            found[name] = match.group(1)
    return found


@functools.cache
def sources() -> tuple[tuple[Path, ast.Module], ...]:
    """Every module of the code, parsed once per test session."""
    return tuple(
        (path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for directory in CODE_DIRS
        for path in sorted((REPO / directory).rglob("*.py"))
    )


def literal(node: ast.Call) -> str | None:
    if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


@functools.cache
def calls() -> dict[str, set[str]]:
    """Web API method -> the files that call it."""
    client = client_methods()
    called: dict[str, set[str]] = {}
    for path, tree in sources():
        where = str(path.relative_to(REPO))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            method = _method_called(node, client)
            if method:
                called.setdefault(method, set()).add(where)
    return called


def _method_called(node: ast.Call, client: dict[str, str]) -> str | None:
    """``x.chat_postMessage(...)``, ``x.api_call("chat.postMessage")``, ``call("...", ...)``."""
    func = node.func
    if isinstance(func, ast.Attribute):
        if func.attr in client:
            return client[func.attr]
        return literal(node) if func.attr == "api_call" else None
    if isinstance(func, ast.Name) and func.id == "call":
        return literal(node)
    return None


@functools.cache
def listened(kind: str) -> frozenset[str]:
    """The literal names given to Bolt's ``.event(...)`` or ``.command(...)``."""
    names: set[str] = set()
    for _, tree in sources():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == kind
                and (name := literal(node))
            ):
                names.add(name)
    return frozenset(names)


def method_scopes(method: str) -> set[str]:
    """The bot scopes one Web API method needs, from the spec's security field.

    The spec (2021) still names some scopes by their old split forms (``chat:write:bot``,
    ``chat:write:user``, ``files:write:user``): for a bot token each is the one granular
    scope before the suffix. ``none`` needs nothing.
    """
    listed = spec_security().get(method)
    if listed is None:
        raise AssertionError(f"{method} is not in the Slack spec: give its scopes here")
    needed: set[str] = set()
    for scope in listed:
        if scope == "none":
            continue
        scope = scope.removesuffix(":bot").removesuffix(":user")
        match = CONVERSATION_SCOPE.match(scope)
        if match and match.group(1) not in CONVERSATION_TYPES:
            continue
        needed.add(scope)
    if method in FIELD_SCOPES:
        needed.add(FIELD_SCOPES[method][0])
    return needed


def needed_events() -> set[str]:
    """Bolt's "message" listener is message.<type> for each conversation type deskhand uses."""
    events: set[str] = set()
    for event in listened("event"):
        if event == "message":
            events.update(f"message.{kind}" for kind in CONVERSATION_TYPES)
        else:
            events.add(event)
    return events


def needed_bot_scopes() -> dict[str, set[str]]:
    """Scope -> what needs it (a method, an event, a command)."""
    needs: dict[str, set[str]] = {}
    for method in set(calls()) | LIBRARY_METHODS:
        if method in APP_TOKEN_METHODS:
            continue
        for scope in method_scopes(method):
            needs.setdefault(scope, set()).add(method)
    for event in needed_events():
        for scope in EVENT_SCOPES[event]:
            needs.setdefault(scope, set()).add(f"event {event}")
    for command in listened("command"):
        needs.setdefault(COMMAND_SCOPE, set()).add(f"command {command}")
    return needs

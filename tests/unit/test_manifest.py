"""The Slack app manifest: its structure, and exactly the scopes, events and commands the
code needs, derived from the code (tests/support/slack_scopes.py), never hard-coded."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.support import slack_scopes as needs

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "manifest.yml"
EVENTS_URL = "https://deskhand.example.com/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _urls(node: Any) -> list[str]:
    """Every value under a key ending in `url` anywhere in the manifest."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key.endswith("url"):
                found.append(value)
            else:
                found.extend(_urls(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_urls(item))
    return found


def test_top_level_keys(manifest: dict[str, Any]) -> None:
    assert set(manifest) == {
        "_metadata",
        "display_information",
        "features",
        "oauth_config",
        "settings",
    }
    assert manifest["_metadata"]["major_version"] == 2


def test_display_information(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert info["name"] == "deskhand"
    # Slack's limits: name up to 35 characters, description up to 140.
    assert len(info["name"]) <= 35
    assert 0 < len(info["description"]) <= 140


def test_bot_user_and_app_home(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert features["bot_user"]["display_name"]
    assert features["bot_user"]["always_online"] is True
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is False


def test_desk_slash_command(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/desk"]
    desk = commands[0]
    assert desk["url"] == EVENTS_URL
    assert desk["usage_hint"] == (
        "available | away | list | return <reference> | approvals [request_id] | help"
    )
    assert desk["description"]
    assert desk["should_escape"] is False


def test_settings(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"] == EVENTS_URL
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_every_url_is_https(manifest: dict[str, Any]) -> None:
    urls = _urls(manifest)
    assert len(urls) >= 3  # events, interactivity, the slash command
    for url in urls:
        parsed = urlparse(url)
        assert parsed.scheme == "https", url
        assert parsed.netloc, url


def test_the_scan_finds_the_calls_it_must() -> None:
    """A guard on the scan itself: it sees the methods deskhand is known to call."""
    called = needs.calls()
    for method in ("chat.postMessage", "chat.update", "users.info", "views.open"):
        assert method in called, method
    assert "bot/outbox/slack_effects.py" in called["chat.postMessage"]
    assert needs.listened("command") == {"/desk"}


def test_every_called_method_is_in_the_spec_or_accounted_for() -> None:
    for method in needs.calls():
        assert method in needs.spec_security() or method in needs.APP_TOKEN_METHODS, method


def test_method_names_given_to_call_match_the_client_method() -> None:
    """``call("users.info", client.users_info(...))``: the label is the method called."""
    client = needs.client_methods()
    checked = 0
    for path, tree in needs.sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id != "call" or len(node.args) < 2:
                continue
            request = node.args[1]
            if (
                isinstance(request, ast.Call)
                and isinstance(request.func, ast.Attribute)
                and request.func.attr in client
            ):
                assert needs.literal(node) == client[request.func.attr], f"{path}:{node.lineno}"
                checked += 1
    assert checked >= 10  # every Slack call in bot/ goes through call(...)


def test_field_scopes_are_still_needed() -> None:
    for method, (scope, reading) in needs.FIELD_SCOPES.items():
        callers = needs.calls().get(method, set())
        assert callers, f"{method} is no longer called: drop {scope}"
        assert any(
            reading in (needs.REPO / caller).read_text(encoding="utf-8") for caller in callers
        ), f"nothing reads {reading} from {method} any more: drop {scope}"


def test_the_manifest_asks_for_exactly_the_bot_scopes_needed(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "deskhand asks for no user scopes"
    asked = scopes["bot"]
    assert len(asked) == len(set(asked)), "a scope is listed twice"
    needed = needs.needed_bot_scopes()
    unneeded = set(asked) - set(needed)
    missing = {scope: sorted(needed[scope]) for scope in set(needed) - set(asked)}
    assert not unneeded, f"the manifest asks for scopes nothing uses: {sorted(unneeded)}"
    assert not missing, f"the manifest lacks scopes the code needs: {missing}"


def test_the_manifest_subscribes_to_exactly_the_events_listened_to(
    manifest: dict[str, Any],
) -> None:
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"] == EVENTS_URL
    subscribed = events["bot_events"]
    assert len(subscribed) == len(set(subscribed))
    assert set(subscribed) == needs.needed_events()
    assert set(subscribed) <= set(needs.EVENT_SCOPES), "add the event to EVENT_SCOPES"


def test_the_manifest_declares_exactly_the_commands_listened_to(manifest: dict[str, Any]) -> None:
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == needs.listened("command")


def test_no_direct_message_surface(manifest: dict[str, Any]) -> None:
    """Why im:/mpim: scopes are not needed: the App Home has no messages tab."""
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is False


@pytest.mark.parametrize(
    ("method", "scopes"),
    [
        ("chat.postMessage", {"chat:write"}),
        ("conversations.replies", {"channels:history", "groups:history"}),
        ("users.info", {"users:read", "users:read.email"}),
        ("views.open", set()),
        ("files.upload", {"files:write"}),  # the spec's files:write:user, for a bot token
    ],
)
def test_spec_scopes_are_translated_to_bot_scopes(method: str, scopes: set[str]) -> None:
    assert needs.method_scopes(method) == scopes


def test_the_scopes_are_documented() -> None:
    operations = (needs.REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    for scope in needs.needed_bot_scopes():
        assert f"`{scope}`" in operations, scope

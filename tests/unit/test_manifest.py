"""The Slack app manifest: structure, exactly the scopes deskhand uses, events and /desk."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "manifest.yml"

EXPECTED_BOT_SCOPES = {
    "chat:write",
    "commands",
    "channels:history",
    "groups:history",
    "reactions:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "files:write",
}
EXPECTED_BOT_EVENTS = {"message.channels", "message.groups", "app_home_opened"}
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


def test_bot_scopes_are_exactly_the_ones_used(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "deskhand asks for no user scopes"
    bot_scopes = scopes["bot"]
    assert len(bot_scopes) == len(set(bot_scopes)), "a scope is listed twice"
    assert set(bot_scopes) == EXPECTED_BOT_SCOPES


@pytest.mark.parametrize("scope", ["chat:write.public", "app_mentions:read"])
def test_scopes_deliberately_left_out(manifest: dict[str, Any], scope: str) -> None:
    assert scope not in manifest["oauth_config"]["scopes"]["bot"]


def test_event_subscriptions(manifest: dict[str, Any]) -> None:
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"] == EVENTS_URL
    assert len(events["bot_events"]) == len(set(events["bot_events"]))
    assert set(events["bot_events"]) == EXPECTED_BOT_EVENTS


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

"""Slack message text to what a customer should read, and the internal-note convention."""

from __future__ import annotations

import re

# A thread reply that starts with one of these stays in Slack (an internal note).
NOTE_PREFIXES = ("//", "note:", "[note]")

_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]+))?>")
_MAILTO = re.compile(r"<mailto:([^|>]+)(?:\|([^>]+))?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]+))?>")
_CHANNEL = re.compile(r"<#C[A-Z0-9]+(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]+))?>")


def is_internal_note(text: str) -> bool:
    return text.lstrip().lower().startswith(NOTE_PREFIXES)


def to_plain_text(text: str) -> str:
    """Turn Slack's encoded mrkdwn into plain text: links, mentions and entities."""

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        return url if not label or label == url else f"{label} ({url})"

    text = _LINK.sub(link, text)
    text = _MAILTO.sub(lambda m: m.group(2) or m.group(1), text)
    text = _USER.sub(lambda m: "@" + (m.group(2) or "agent"), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(1) or "channel"), text)
    text = _SPECIAL.sub(lambda m: m.group(2) or "@" + m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

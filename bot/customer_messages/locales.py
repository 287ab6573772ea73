"""Locale tags (BCP 47, as far as deskhand needs them): normalising and falling back."""

from __future__ import annotations

import re

DEFAULT_LOCALE = "en"

_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")


def normalize(tag: str) -> str | None:
    """`de_AT` -> `de-at`; None when `tag` is not a locale tag at all."""
    key = tag.strip().replace("_", "-").lower()
    return key if _TAG.fullmatch(key) else None


def display(key: str) -> str:
    """The usual spelling of a normalised tag: `pt-br` -> `pt-BR`, `zh-hant` -> `zh-Hant`."""
    first, *rest = key.split("-")
    shown = [first]
    for sub in rest:
        if (len(sub) == 2 and sub.isalpha()) or (len(sub) == 3 and sub.isdigit()):
            shown.append(sub.upper())
        elif len(sub) == 4 and sub.isalpha():
            shown.append(sub.title())
        else:
            shown.append(sub)
    return "-".join(shown)


def chain(key: str) -> list[str]:
    """Tags to try for a normalised tag, most specific first, English last.

    `de-at` -> [`de-at`, `de`, `en`].
    """
    parts = key.split("-")
    tags = ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]
    if DEFAULT_LOCALE not in tags:
        tags.append(DEFAULT_LOCALE)
    return tags

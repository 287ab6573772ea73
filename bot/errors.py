"""Domain errors. Each carries the text a Slack user sees; one handler turns them into
ephemeral messages (handlers/slack/errors.py) or JSON refusals (handlers/webhooks)."""

from __future__ import annotations


class DeskhandError(Exception):
    """Base of every error a person or a caller is meant to read."""

    code = "error"
    http_status = 400

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class NotFound(DeskhandError):
    code = "not_found"
    http_status = 404


class NotPermitted(DeskhandError):
    code = "forbidden"
    http_status = 403


class Conflict(DeskhandError):
    """The entity is not in a state that allows this (two clicks, one result)."""

    code = "conflict"
    http_status = 409

"""The shape of what Slack sends, checked before Bolt and the listeners read it.

Slack's payloads always have these fields with these types; a signed body without them
(a replayed, hand-made or corrupted one) would otherwise crash Bolt's routing or a
listener into a 500. Only what deskhand reads is checked, and anything else is allowed
(``extra="allow"``), so new fields Slack adds change nothing. Types deskhand does not
handle pass unchecked: Bolt answers them itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# A Slack user or channel id: never empty (deskhand hands them back to Slack's Web API).
SlackId = Annotated[str, Field(min_length=1)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class _User(_Lenient):
    id: SlackId
    name: str | None = None
    username: str | None = None


class _Channel(_Lenient):
    id: SlackId


class _Action(_Lenient):
    action_id: str
    type: str = "button"
    value: str | None = None

    @model_validator(mode="after")
    def _buttons_carry_a_value(self) -> _Action:
        # Every deskhand button's value is its entity's public id (the contract); only a
        # link button comes without one.
        if self.type == "button" and self.value is None and "url" not in (self.model_extra or {}):
            raise ValueError("a button action without a value")
        return self


class _Message(_Lenient):
    ts: str | None = None
    thread_ts: str | None = None


class BlockActions(_Lenient):
    user: _User
    actions: list[_Action]
    channel: _Channel | None = None
    message: _Message | None = None
    trigger_id: str | None = None


class _ViewState(_Lenient):
    values: dict[str, dict[str, dict[str, Any]]]


class _View(_Lenient):
    callback_id: str
    private_metadata: str = ""
    state: _ViewState


class ViewSubmission(_Lenient):
    user: _User
    view: _View


class _Event(_Lenient):
    type: str
    user: SlackId | None = None
    channel: SlackId | None = None
    ts: str | None = None
    thread_ts: str | None = None
    text: str | None = None
    subtype: str | None = None
    bot_id: str | None = None
    tab: str | None = None

    @model_validator(mode="after")
    def _what_each_event_needs(self) -> _Event:
        if self.type == "message" and (self.channel is None or self.ts is None):
            raise ValueError("a message event without its channel or ts")
        if self.type == "app_home_opened" and self.user is None:
            raise ValueError("app_home_opened without its user")
        return self


class EventCallback(_Lenient):
    event: _Event


class SlashCommand(_Lenient):
    command: str
    user_id: SlackId
    text: str = ""
    user_name: str | None = None
    channel_id: SlackId | None = None


_BY_TYPE: dict[str, type[BaseModel]] = {
    "block_actions": BlockActions,
    "view_submission": ViewSubmission,
    "event_callback": EventCallback,
}


def malformed(payload: dict[str, Any]) -> str | None:
    """Why ``payload`` is not what Slack sends, or None when it is (or is a type deskhand
    leaves to Bolt)."""
    if "command" in payload:
        model: type[BaseModel] | None = SlashCommand
    else:
        kind = payload.get("type")
        model = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return f"{where}: {first['msg']}"
    return None

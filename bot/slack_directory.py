"""User group members through the Slack API (for leads given as group ids)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_api import call


class SlackDirectory:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def group_members(self, group_id: str) -> set[str]:
        data = await call(
            "usergroups.users.list", self._client.usergroups_users_list(usergroup=group_id)
        )
        return {str(user) for user in data.get("users", [])}

    async def profile(self, user_id: str) -> tuple[str | None, str | None]:
        """(e-mail, display name) from Slack's profile; the e-mail needs users:read.email."""
        data = await call("users.info", self._client.users_info(user=user_id))
        user = data.get("user") or {}
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("name")
        email = profile.get("email")
        return (str(email) if email else None, str(name) if name else None)

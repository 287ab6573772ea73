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

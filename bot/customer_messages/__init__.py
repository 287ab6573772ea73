"""What deskhand tells a customer whose conversation went to a human, in their language.

Texts live in `locales/<tag>.toml`; a team replaces or adds them with files of the same
shape in the directory named by `DESKHAND_MESSAGES_DIR` (see docs/customer-messages.md).
"""

from __future__ import annotations

from bot.customer_messages.catalog import CustomerMessages
from bot.customer_messages.keys import PLACEHOLDERS, MessageKey, Unit
from bot.customer_messages.templates import MessagesError

__all__ = ["PLACEHOLDERS", "CustomerMessages", "MessageKey", "MessagesError", "Unit"]

"""What the ticketing stand-ins record of each request they receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RecordedCall:
    method: str
    path: str  # relative to the stand-in's base URL
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0

"""HTTP/1.1 requests written byte by byte, for headers no client library would send: a
header twice, bytes that are not UTF-8, signs and Unicode digits in a timestamp.

Only what an HTTP parser lets through reaches deskhand (visible ASCII, space, tab and
obs-text 0x80-0xFF in a value; lines under 8 KiB), so ``FIELD_BYTES`` is that.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Header = tuple[str, bytes]

# The bytes a header value may hold on the wire (RFC 9110 field-vchar, SP, HTAB, obs-text).
FIELD_BYTES = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])


@dataclass(frozen=True)
class RawAnswer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def send(url: str, method: str, headers: list[Header], body: bytes) -> RawAnswer:
    """One request on its own connection; ``url`` is absolute (host, port, path)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1".encode(), f"Host: {parts.netloc}".encode()]
    lines += [name.encode() + b": " + value for name, value in headers]
    lines += [f"Content-Length: {len(body)}".encode(), b"Connection: close"]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    content_type = next((v for k, v in fields.items() if k.lower() == "content-type"), "")
    return RawAnswer(int(status_line.split(" ")[1]), content_type, payload)

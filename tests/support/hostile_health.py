"""Hostile requests to ``/healthz``, ``/readyz`` and ``/metrics``: other methods, query
strings and headers (names and values as bytes, written on the wire by tests/support/
raw_http.py), and a body now and then.

Only what an HTTP parser lets through reaches deskhand (raw_http.py says what): a query of
visible ASCII, header values of ``FIELD_BYTES``, the methods llhttp knows. The headers
that frame the request itself (Content-Length, Transfer-Encoding, Host, Connection, Upgrade)
are raw_http's to write, so they are not drawn, and neither is a second of a header the
parser takes once only (``SINGLETON_HEADERS``).

What each must get (docs/openapi.yaml, docs/operations.md): GET the documented answer
whatever the query and headers; HEAD the same status with no body; any other method the
contract's JSON error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp.http_parser import SINGLETON_HEADERS
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tests.support.harness import Harness
from tests.support.hostile_checks import assert_error_body
from tests.support.hostile_text import hostile_text
from tests.support.raw_http import FIELD_BYTES, Header, RawAnswer, send

HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")
READS = ("GET", "HEAD")
# Methods llhttp parses (others never reach the app: the parser answers 400 itself).
OTHER_METHODS = ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "PURGE")
NOT_ALLOWED = 405
FRAMING = frozenset({"content-length", "transfer-encoding", "host", "connection", "upgrade"})
HEADER_NAMES = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Authorization",
    "Cache-Control",
    "Content-Encoding",
    "Content-Type",
    "Cookie",
    "Expect",
    "Forwarded",
    "If-Modified-Since",
    "If-None-Match",
    "Origin",
    "Range",
    "TE",
    "User-Agent",
    "X-Deskhand-Signature",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Request-Id",
    "X-Slack-Signature",
]
_TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FIELD = st.binary(max_size=120).map(lambda raw: bytes(b for b in raw if b in FIELD_BYTES))
_QUERY_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "#")
READY = {"status": "ready", "checks": {"database": True, "slack_socket": True}}


@dataclass(frozen=True)
class HealthRequest:
    method: str
    query: str
    headers: list[Header]
    body: bytes


def _values() -> st.SearchStrategy[bytes]:
    nasty = st.sampled_from(
        [b"", b"nonsense", b"100-continue", b"gzip, br, zstd", b"bytes=0-0,-1", b"*/*;q=x"]
    )
    text = hostile_text(40).map(lambda t: t.encode("utf-8", "surrogatepass"))
    long = st.integers(1000, 7000).map(lambda n: b"a" * n)
    return st.one_of(
        _FIELD, nasty, text.map(lambda raw: bytes(b for b in raw if b in FIELD_BYTES)), long
    )


def _names() -> st.SearchStrategy[str]:
    made_up = st.text(st.sampled_from(_TCHAR), min_size=1, max_size=30)
    return (st.sampled_from(HEADER_NAMES) | made_up).filter(lambda n: n.lower() not in FRAMING)


def _queries() -> st.SearchStrategy[str]:
    raw = st.text(st.sampled_from(_QUERY_CHARS), max_size=80)
    encoded = hostile_text(40).map(lambda t: quote(t.encode("utf-8", "surrogatepass"), safe="=&"))
    return st.one_of(st.just(""), raw, encoded, st.just("a=%zz&%&=&b=%00"), st.just("x" * 6000))


@st.composite
def health_requests(draw: st.DrawFn) -> HealthRequest:
    method = draw(st.sampled_from(READS) | st.sampled_from(READS) | st.sampled_from(OTHER_METHODS))
    drawn = draw(st.lists(st.tuples(_names(), _values()), max_size=6))
    # A singleton header sent twice is refused by aiohttp's parser, before deskhand.
    headers = [
        (name, value)
        for n, (name, value) in enumerate(drawn)
        if name.lower() not in SINGLETON_HEADERS
        or all(other.lower() != name.lower() for other, _ in drawn[:n])
    ]
    body = draw(st.just(b"") | st.just(b"") | st.binary(max_size=200))
    return HealthRequest(method, draw(_queries()), headers, body)


async def send_health(desk: Harness, path: str, request: HealthRequest) -> tuple[int, Any]:
    """Send ``request`` to ``path``; (status, body): JSON when it is JSON, else the answer
    (Content-Type, text) for the checks below."""
    target = path + (f"?{request.query}" if request.query else "")
    answer = await send(desk.url(target), request.method, request.headers, request.body)
    if answer.status == 100:  # "Expect: 100-continue": the answer follows the interim one
        answer = _parse(answer.body)
    if not answer.body:
        return answer.status, None
    if answer.content_type.startswith("application/json"):
        return answer.status, json.loads(answer.body)
    return answer.status, (answer.content_type, answer.body.decode("utf-8", "replace"))


def _parse(raw: bytes) -> RawAnswer:
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines if ": " in line)}
    return RawAnswer(int(status_line.split(" ")[1]), fields.get("content-type", ""), payload)


def allowed(request: HealthRequest) -> set[int]:
    return {200} if request.method in READS else {NOT_ALLOWED}


def assert_documented(path: str, request: HealthRequest, status: int, body: Any) -> None:
    """The answer is what the documents promise, whatever was around the request."""
    if request.method not in READS:
        assert_error_body(status, body)
        return
    if request.method == "HEAD":
        assert body is None, body
        return
    if path == "/healthz":
        assert body == {"status": "ok"}, body
    elif path == "/readyz":
        assert body == READY, body
    else:
        content_type, text = body
        assert content_type.startswith("text/plain; version="), content_type
        names = [family.name for family in text_string_to_metric_families(text)]
        assert any(name.startswith("deskhand_") for name in names), names[:10]

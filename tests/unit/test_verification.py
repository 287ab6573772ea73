"""integrations/verification.py: every header value either verifies or is refused with the
contract's 401 code; nothing raises anything else, and digests are compared in constant
time."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import CIMultiDict
from slack_sdk.signature import Clock, SignatureVerifier

from integrations import verification
from integrations.verification import (
    DESKHAND,
    SLACK,
    RawBodyVerifier,
    Refused,
    V0Scheme,
    require_secret,
    single_header,
    unix_seconds,
    v0_signature,
    verify_bearer,
)

NOW = 1_767_600_000.0
SECRET = "8f1d3c5e7a9b2d4f6a8c0e1f3b5d7a9c"
BODY = b'{"handoff_id": "sess-1:esc-1"}'
CODES = {
    "webhooks_disabled",
    "missing_signature",
    "invalid_timestamp",
    "stale_timestamp",
    "invalid_signature",
    "missing_token",
    "invalid_token",
}

UNICODE_DIGITS = "\u00b2\u00b3\u00b9\u0661\u0662\u0966\u0967\u0ed1\u0e51\u1811\U0001d7cf"
# What a client may put in a header: any text, bytes as a server would decode them,
# Unicode digits, signs, whitespace, huge numbers.
HEADER_VALUES = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda raw: raw.decode("utf-8", errors="surrogateescape")),
    # Digits that are not ASCII: superscripts, Arabic-Indic, Devanagari, Lao, Thai,
    # Mongolian, mathematical bold. str.isdigit() says yes to all of them.
    st.text(alphabet="0123456789" + UNICODE_DIGITS, min_size=1, max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.builds(
        lambda sign, ts, pad: f"{pad}{sign}{ts}{pad}",
        st.sampled_from(["", "+", "-", "--", "+-", "0x"]),
        st.integers(min_value=int(NOW) - 10, max_value=int(NOW) + 10),
        st.sampled_from(["", " ", "\t", "\n", "\u00a0", "\u2003"]),
    ),
    st.just("9" * 5000),
)


class AtNow(Clock):
    def now(self) -> float:
        return NOW


def v0_headers(
    scheme: V0Scheme, body: bytes = BODY, *, secret: str = SECRET, now: float = NOW
) -> dict[str, str]:
    timestamp = str(int(now))
    return {
        scheme.timestamp_header: timestamp,
        scheme.signature_header: v0_signature(secret, timestamp, body),
    }


def fresh(timestamp: str) -> bool:
    plain = timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
    return plain and abs(NOW - int(timestamp)) <= 300


def refused(check: Callable[[], object]) -> Refused:
    with pytest.raises(Refused) as caught:
        check()
    assert caught.value.status == 401 and caught.value.code in CODES
    assert caught.value.message
    return caught.value


# -- v0 (Slack's and deskhand's scheme) --------------------------------------------------------


@pytest.mark.parametrize("scheme", [SLACK, DESKHAND], ids=["slack", "deskhand"])
def test_a_fresh_signed_request_verifies(scheme: V0Scheme) -> None:
    scheme.verify(SECRET, v0_headers(scheme), BODY, now=NOW)
    for skew in (-300, 300):
        scheme.verify(SECRET, v0_headers(scheme, now=NOW + skew), BODY, now=NOW)


def test_header_names_are_case_insensitive_in_plain_dicts_and_multidicts() -> None:
    sent = v0_headers(SLACK)
    SLACK.verify(SECRET, {k.lower(): v for k, v in sent.items()}, BODY, now=NOW)
    SLACK.verify(SECRET, CIMultiDict({k.upper(): v for k, v in sent.items()}), BODY, now=NOW)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"secret": "another-secret-entirely-0123456789"}, "invalid_signature"),
        ({"body": BODY + b" "}, "invalid_signature"),
        ({"now": NOW - 301}, "stale_timestamp"),
        ({"now": NOW + 301}, "stale_timestamp"),
        ({"now": NOW - 86_400 * 365}, "stale_timestamp"),
    ],
    ids=["secret", "body", "old", "future", "last-year"],
)
def test_wrong_secret_changed_body_and_stale_time_are_refused(
    change: dict[str, Any], code: str
) -> None:
    headers = v0_headers(
        DESKHAND, BODY, secret=change.get("secret", SECRET), now=change.get("now", NOW)
    )
    got = refused(lambda: DESKHAND.verify(SECRET, headers, change.get("body", BODY), now=NOW))
    assert got.code == code


TS, SIG = "X-Slack-Request-Timestamp", "X-Slack-Signature"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_signature"),
        ({TS: str(int(NOW))}, "missing_signature"),
        ({SIG: "v0=" + "0" * 64}, "missing_signature"),
        ({TS: "", SIG: "v0=00"}, "missing_signature"),
        ({TS: "--5", SIG: "v0=00"}, "invalid_timestamp"),
        ({TS: "\u00b2", SIG: "v0=00"}, "invalid_timestamp"),
        ({TS: "+1767600000", SIG: "v0=0"}, "invalid_timestamp"),
        ({TS: " 1767600000", SIG: "v0=0"}, "invalid_timestamp"),
        ({TS: "1767600000.5", SIG: "v0=0"}, "invalid_timestamp"),
        ({TS: "9" * 5000, SIG: "v0=0"}, "invalid_timestamp"),
        ({TS: "1767600000", SIG: "v0=\u00e9"}, "invalid_signature"),
        ({TS: "1767600000", SIG: "v0=\udcff"}, "invalid_signature"),
    ],
)
def test_malformed_headers_are_refused_with_their_code(headers: dict[str, str], code: str) -> None:
    assert refused(lambda: SLACK.verify(SECRET, headers, BODY, now=NOW)).code == code


def test_a_header_sent_twice_is_refused() -> None:
    sent = CIMultiDict(v0_headers(SLACK))
    sent.add("X-Slack-Signature", sent["X-Slack-Signature"])
    assert refused(lambda: SLACK.verify(SECRET, sent, BODY, now=NOW)).code == "invalid_signature"
    twice = CIMultiDict(v0_headers(SLACK))
    twice.add("x-slack-request-timestamp", str(int(NOW)))
    assert refused(lambda: SLACK.verify(SECRET, twice, BODY, now=NOW)).code == "invalid_timestamp"
    # A plain dict can carry the same name twice in two spellings.
    spelled = v0_headers(SLACK) | {"x-slack-signature": "v0=" + "0" * 64}
    assert refused(lambda: SLACK.verify(SECRET, spelled, BODY, now=NOW)).code == "invalid_signature"


@given(timestamp=HEADER_VALUES, signature=HEADER_VALUES, body=st.binary(max_size=64))
@example(timestamp="--5", signature="v0=00", body=b"")
@example(timestamp="²", signature="v0=00", body=b"")
@example(timestamp=str(int(NOW)), signature="v0=ü", body=b"")
def test_any_header_values_are_verified_or_refused_never_raised(
    timestamp: str, signature: str, body: bytes
) -> None:
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    expected = v0_signature(SECRET, timestamp, body) if timestamp.isascii() else None
    try:
        SLACK.verify(SECRET, headers, body, now=NOW)
    except Refused as exc:
        assert exc.status == 401 and exc.code in CODES
    else:  # only the exact signature of a fresh, plain timestamp gets through
        assert fresh(timestamp) and signature == expected


@given(timestamp=HEADER_VALUES, body=st.binary(max_size=64))
def test_a_correct_signature_over_a_malformed_timestamp_is_still_refused(
    timestamp: str, body: bytes
) -> None:
    if fresh(timestamp):
        return  # a good timestamp: the other tests cover it
    base = b"v0:" + timestamp.encode("utf-8", "surrogatepass") + b":" + body
    signature = "v0=" + hmac.new(SECRET.encode(), base, "sha256").hexdigest()
    headers = {"X-Deskhand-Request-Timestamp": timestamp, "X-Deskhand-Signature": signature}
    code = refused(lambda: DESKHAND.verify(SECRET, headers, body, now=NOW)).code
    assert code in {"invalid_timestamp", "stale_timestamp", "missing_signature"}


@given(body=st.binary(max_size=256))
def test_any_body_bytes_round_trip(body: bytes) -> None:
    DESKHAND.verify(SECRET, v0_headers(DESKHAND, body), body, now=NOW)


@given(body=st.text(max_size=256), timestamp=st.integers(min_value=0, max_value=10**11))
def test_the_raw_body_verifier_signs_utf8_exactly_as_slack_sdk_does(
    body: str, timestamp: int
) -> None:
    ours = RawBodyVerifier(SECRET).generate_signature(timestamp=str(timestamp), body=body.encode())
    theirs = SignatureVerifier(SECRET).generate_signature(timestamp=str(timestamp), body=body)
    assert ours == theirs


def test_slack_sdk_verifies_but_never_sees_headers_that_crash_it() -> None:
    crashing = [
        {"X-Slack-Request-Timestamp": "²", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "--5", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": str(int(NOW)), "X-Slack-Signature": "v0=ü"},
    ]
    library = SignatureVerifier(SECRET, clock=AtNow())
    for headers in crashing:  # what the library does with them on its own
        with pytest.raises((ValueError, TypeError)):
            library.is_valid_request(BODY, headers)
    with mock.patch.object(RawBodyVerifier, "is_valid", autospec=True) as is_valid:
        for headers in crashing:
            refused(lambda h=headers: SLACK.verify(SECRET, h, BODY, now=NOW))
        assert is_valid.call_count == 0
        is_valid.return_value = True
        SLACK.verify(SECRET, v0_headers(SLACK), BODY, now=NOW)
        assert is_valid.call_count == 1  # the good request went through slack_sdk


def test_whatever_slack_sdk_raises_becomes_a_refusal() -> None:
    with mock.patch.object(RawBodyVerifier, "is_valid", side_effect=TypeError("boom")):
        assert refused(lambda: SLACK.verify(SECRET, v0_headers(SLACK), BODY, now=NOW)).code == (
            "invalid_signature"
        )
    # A blank secret, which SignatureVerifier refuses to hold, is a refusal too.
    assert refused(lambda: SLACK.verify(" ", v0_headers(SLACK), BODY, now=NOW)).code == (
        "invalid_signature"
    )


def test_v0_signatures_are_compared_in_constant_time() -> None:
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        SLACK.verify(SECRET, v0_headers(SLACK), BODY, now=NOW)
        wrong = v0_headers(SLACK) | {"X-Slack-Signature": "v0=" + "0" * 64}
        refused(lambda: SLACK.verify(SECRET, wrong, BODY, now=NOW))
    assert spy.call_count == 2


# -- the parts ------------------------------------------------------------------------------


@given(value=HEADER_VALUES)
def test_unix_seconds_takes_only_plain_ascii_digits(value: str) -> None:
    try:
        seconds = unix_seconds(value, name="X-Ts", now=NOW)
    except Refused as exc:
        assert exc.code in {"invalid_timestamp", "stale_timestamp"}
    else:
        assert value.isascii() and value.isdigit() and seconds == int(value)


def test_single_header_refuses_what_is_not_one_plain_value() -> None:
    missing, invalid = Refused(401, "missing_signature", "m"), Refused(401, "invalid_token", "i")
    assert single_header({"X-A": "ok"}, "x-a", missing=missing, invalid=invalid) == "ok"
    for headers in ({}, {"X-A": ""}, {"X-B": "ok"}):
        with pytest.raises(Refused) as caught:
            single_header(headers, "X-A", missing=missing, invalid=invalid)
        assert caught.value is missing
    for value in ("a\x00b", "a\nb", " ok", "ok ", "é", "x" * 1025, b"ok"):
        with pytest.raises(Refused) as caught:
            single_header({"X-A": value}, "X-A", missing=missing, invalid=invalid)
        assert caught.value is invalid


def test_same_compares_bytes_in_constant_time_and_refuses_non_ascii() -> None:
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        assert verification.same(b"abc", "abc")
        assert not verification.same(b"abc", "abd")
    assert spy.call_count == 2
    assert all(isinstance(arg, bytes) for call in spy.call_args_list for arg in call.args)
    assert not verification.same("é".encode(), "é")  # non-ASCII never reaches compare_digest


def test_an_unset_secret_disables_the_endpoint() -> None:
    for secret in (None, ""):
        got = refused(lambda s=secret: require_secret(s, "DESKHAND_WEBHOOK_SECRET"))
        assert got.code == "webhooks_disabled" and "DESKHAND_WEBHOOK_SECRET" in got.message
    assert require_secret("s3cret", "X") == "s3cret"


# -- bearer tokens -------------------------------------------------------------------------

TOKEN = "am-7c1e9f3a5b2d4e6f8a0c"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_right_bearer_token_is_accepted(scheme: str) -> None:
    verify_bearer(TOKEN, {"Authorization": f"{scheme} {TOKEN}"})
    verify_bearer(TOKEN, CIMultiDict({"authorization": f"{scheme} {TOKEN}"}))


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": ""}, "missing_token"),
        ({"Authorization": TOKEN}, "invalid_token"),
        ({"Authorization": f"Basic {TOKEN}"}, "invalid_token"),
        ({"Authorization": "Bearer "}, "invalid_token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "invalid_token"),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, "invalid_token"),
        ({"Authorization": f"Bearer  {TOKEN}"}, "invalid_token"),
        ({"Authorization": f"Bearer {TOKEN} "}, "invalid_token"),
        ({"Authorization": "Bearer é"}, "invalid_token"),
    ],
)
def test_wrong_or_malformed_bearer_tokens_are_refused(headers: dict[str, str], code: str) -> None:
    assert refused(lambda: verify_bearer(TOKEN, headers)).code == code


def test_a_bearer_token_sent_twice_or_unconfigured_is_refused() -> None:
    twice = CIMultiDict([("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer x")])
    assert refused(lambda: verify_bearer(TOKEN, twice)).code == "invalid_token"
    got = refused(
        lambda: verify_bearer(
            None, {"Authorization": "Bearer x"}, what="DESKHAND_ALERTMANAGER_TOKEN"
        )
    )
    assert got.code == "webhooks_disabled"


def test_bearer_tokens_are_compared_in_constant_time() -> None:
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        verify_bearer(TOKEN, {"Authorization": f"Bearer {TOKEN}"})
        refused(lambda: verify_bearer(TOKEN, {"Authorization": "Bearer nope"}))
    assert spy.call_count == 2


@given(value=HEADER_VALUES)
def test_any_authorization_header_is_accepted_or_refused_never_raised(value: str) -> None:
    try:
        verify_bearer(TOKEN, {"Authorization": value})
    except Refused as exc:
        assert exc.code in {"missing_token", "invalid_token"}
    else:
        assert value.partition(" ")[2] == TOKEN

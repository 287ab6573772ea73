"""Hypothesis strategies for the handoff Block Kit tests: messy, long and hostile input."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bot.handoffs.view import EvidenceItem, HandoffStatus, Priority, TicketInfo, TranscriptTurn
from tests.support.handoff_views import make_view

INJECTIONS = ["<!channel>", "<!here>", "<@U123>", "<https://evil|click>", "@channel", "&<>"]
SLACK_IDS = st.sampled_from(["U0AGENT1", "W0LEAD22", None])
MESSY = st.one_of(
    st.text(max_size=80),
    st.sampled_from(INJECTIONS),
    st.builds(
        lambda piece, n: piece * n, st.sampled_from(["&", "<>", "ab ", "é"]), st.integers(0, 4000)
    ),
    st.builds(
        lambda a, b, c: a + b + c,
        st.text(max_size=20),
        st.sampled_from(INJECTIONS),
        st.text(max_size=20),
    ),
)
LONG_OR_MESSY = st.one_of(MESSY, st.text(min_size=500, max_size=7000))
URLS = st.one_of(
    st.none(),
    st.sampled_from(["https://docs.example.com/refunds?a=1&b=2", "javascript:alert(1)", "ftp://x"]),
    st.text(max_size=40),
)
TURNS = st.builds(TranscriptTurn, role=st.sampled_from(["customer", "bot"]), text=LONG_OR_MESSY)
EVIDENCE = st.builds(
    EvidenceItem,
    title=MESSY,
    url=URLS,
    score=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
TICKETS = st.one_of(
    st.none(),
    st.builds(
        TicketInfo,
        system=st.sampled_from(["zendesk", "local"]),
        id=st.one_of(st.none(), st.text(max_size=30)),
        url=URLS,
        offline_reference=st.one_of(st.none(), st.text(max_size=30)),
    ),
)
VIEWS = st.builds(
    make_view,
    status=st.sampled_from(list(HandoffStatus)),
    priority=st.sampled_from(list(Priority)),
    reason=st.one_of(st.sampled_from(["no_evidence", "conflict", "other"]), MESSY),
    summary=LONG_OR_MESSY,
    customer_id=MESSY,
    customer_name=st.one_of(st.none(), MESSY),
    customer_email=st.one_of(st.none(), MESSY),
    intent=st.one_of(st.none(), MESSY),
    department=st.one_of(st.none(), MESSY),
    transcript=st.lists(TURNS, max_size=14).map(tuple),
    evidence=st.lists(EVIDENCE, max_size=8).map(tuple),
    suggested_questions=st.lists(MESSY, max_size=8).map(tuple),
    claimed_by=SLACK_IDS,
    resolved_by=SLACK_IDS,
    ticket=TICKETS,
    history=st.lists(st.sampled_from(["Released by <@U0AGENT1>", "Claimed"]), max_size=5).map(
        tuple
    ),
)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

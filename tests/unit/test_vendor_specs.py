"""The vendor specs in tests/specs: the copies match their recorded hashes, deskhand's own
Zendesk document refuses what Zendesk would, and the drift checker finds drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import make_mocked_request
from openapi_spec_validator import validate

from tests.support import spec_drift
from tests.support.intercom_standin_spec import SpecRequest, openapi
from tests.support.zendesk_spec import default_spec_path, problems

REPOSITORY = Path(__file__).resolve().parents[2]
SPECS = REPOSITORY / "tests" / "specs"
OURS = {"README.md", spec_drift.SOURCES, spec_drift.OUR_ZENDESK}
AUTH = {"Authorization": "Basic ZGVza2hhbmQvdG9rZW46eA=="}
LICENCES = {
    "slack_web_openapi_v2.json": ("LICENSE.slack-api-specs.txt",),
    "intercom_api_2.16.trimmed.yaml": ("LICENSE.intercom-openapi.md",),
    "stripe_spec3.trimmed.json": ("LICENSE.stripe-openapi.txt",),
    "alertmanager_webhook_v4.schema.json": ("LICENSE.alertmanager.txt", "NOTICE.alertmanager.txt"),
}


# -- the copies ---------------------------------------------------------------------------


def test_copies_match_their_recorded_hashes() -> None:
    assert spec_drift.recorded_hashes()  # not an empty list that trivially matches
    assert spec_drift.hash_problems(SPECS) == []


def test_every_file_is_recorded_or_ours_and_has_its_licence_beside_it() -> None:
    present = {p.name for p in SPECS.iterdir()}
    recorded = set(spec_drift.recorded_hashes())
    assert present == recorded | OURS
    for spec, licences in LICENCES.items():
        assert {spec, *licences} <= recorded
    readme = (SPECS / "README.md").read_text(encoding="utf-8")
    for name in present - {"README.md"}:
        assert f"`{name}`" in readme, f"{name} is not described in tests/specs/README.md"


def test_stand_ins_read_the_copies_in_the_repository() -> None:
    assert default_spec_path() == SPECS / spec_drift.OUR_ZENDESK
    from tests.support import intercom_standin_spec, slack_spec, stripe_standin

    assert intercom_standin_spec.spec_path().parent == SPECS
    assert slack_spec.default_spec_path().parent == SPECS
    assert stripe_standin.SPEC_PATH.parent == SPECS


# -- deskhand's Zendesk document ----------------------------------------------------------


def test_our_zendesk_document_is_valid_and_says_who_wrote_it() -> None:
    document = yaml.safe_load(default_spec_path().read_text(encoding="utf-8"))
    validate(document)
    assert document["info"]["license"]["name"].startswith("MIT")
    assert document["info"]["x-deskhand-written-by"] == "the deskhand authors"


def _zendesk(method: str, path: str, body: Any = None) -> list[str]:
    raw = b"" if body is None else json.dumps(body).encode()
    headers = AUTH | ({"Content-Type": "application/json"} if raw else {})
    return problems(make_mocked_request(method, path, headers=headers), raw)


NEW_TICKET = {
    "subject": "Refund",
    "comment": {"html_body": "<p>hi</p>", "public": False},
    "priority": "high",
    "requester_id": 7,
    "external_id": "dh-1",
    "tags": ["deskhand"],
    "metadata": {"custom": {"deskhand_handoff_id": "h1"}},
    "assignee_id": 3,
}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v2/tickets", {"ticket": NEW_TICKET}),
        ("PUT", "/api/v2/tickets/5", {"ticket": {"assignee_id": None}}),
        ("PUT", "/api/v2/tickets/5", {"ticket": {"status": "solved", "assignee_id": 3}}),
        (
            "PUT",
            "/api/v2/tickets/5",
            {"ticket": {"comment": {"body": "x", "public": True}, "metadata": {"custom": {}}}},
        ),
        ("POST", "/api/v2/users/create_or_update", {"user": {"email": "a@b.c", "name": "A"}}),
        ("POST", "/api/v2/users/create_or_update", {"user": {"external_id": "c1", "name": "C"}}),
        ("GET", "/api/v2/users/search?query=email:a@b.c", None),
        ("GET", "/api/v2/tickets?external_id=dh-1", None),
        ("GET", "/api/v2/tickets/5/comments?sort_order=desc", None),
        ("GET", "/api/v2/users/me", None),
    ],
)
def test_zendesk_document_accepts_what_deskhand_sends(method: str, path: str, body: Any) -> None:
    assert _zendesk(method, path, body) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "why"),
    [
        ("POST", "/api/v2/tickets", {"ticket": {"subject": "no comment"}}, "comment"),
        ("POST", "/api/v2/tickets", {"ticket": {**NEW_TICKET, "subjekt": "x"}}, "subjekt"),
        ("POST", "/api/v2/tickets", {"ticket": {**NEW_TICKET, "priority": "p1"}}, "p1"),
        ("PUT", "/api/v2/tickets/5", {"ticket": {"status": "done"}}, "done"),
        ("PUT", "/api/v2/tickets/5", {"ticket": {"type": "bug"}}, "bug"),
        ("PUT", "/api/v2/tickets/5", {"ticket": {"comment": {"public": True}}}, "valid"),
        ("PUT", "/api/v2/tickets/5", {"ticket": {"requester_id": "7"}}, "integer"),
        ("PUT", "/api/v2/tickets/5", {"ticket": {"metadata": {"system": {}}}}, "system"),
        ("PUT", "/api/v2/tickets/five", {"ticket": {}}, "ticket_id"),
        ("POST", "/api/v2/users/create_or_update", {"user": {"email": "a@b.c"}}, "name"),
        ("POST", "/api/v2/users/create_or_update", {"user": {"name": "nobody"}}, "valid"),
        (
            "POST",
            "/api/v2/users/create_or_update",
            {"user": {"email": "a@b.c", "name": "A", "role": "boss"}},
            "boss",
        ),
        ("GET", "/api/v2/tickets/5/comments?sort_order=down", None, "sort_order"),
        ("GET", "/api/v2/groups", None, "not found"),
    ],
)
def test_zendesk_document_refuses_what_zendesk_would(
    method: str, path: str, body: Any, why: str
) -> None:
    found = _zendesk(method, path, body)
    assert len(found) == 1 and why in found[0].lower(), found


def test_zendesk_document_wants_credentials() -> None:
    found = problems(make_mocked_request("GET", "/api/v2/users/me"), b"")
    assert len(found) == 1 and "Security" in found[0]


# -- Intercom's ticket search, now in the copied spec -------------------------------------


def _intercom_search(body: Any) -> None:
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    request = make_mocked_request("POST", "/tickets/search", headers=headers)
    openapi().validate_request(SpecRequest(request, json.dumps(body).encode()))


def test_intercom_ticket_search_is_checked_against_the_spec() -> None:
    query = {"field": "external_id", "operator": "=", "value": "dh-1"}
    _intercom_search({"query": query, "pagination": {"per_page": 5}})
    with pytest.raises(Exception, match=r"(?i)request body"):
        _intercom_search({"pagination": {"per_page": 5}})


# -- the drift checker --------------------------------------------------------------------


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """An upstream directory in step with tests/specs (our Zendesk document stands in for
    Zendesk's: each name in it exists in itself)."""
    directory = tmp_path / "upstream"
    directory.mkdir()
    for name in spec_drift.recorded_hashes():
        shutil.copyfile(SPECS / name, directory / name)
    shutil.copyfile(default_spec_path(), directory / spec_drift.UPSTREAM_ZENDESK)
    return directory


def test_drift_checker_passes_when_in_step(
    upstream: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert spec_drift.main([str(upstream)]) == 0
    assert "in step" in capsys.readouterr().out


def test_drift_checker_names_a_changed_or_missing_file(
    upstream: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (upstream / "stripe_spec3.trimmed.json").write_text("{}", encoding="utf-8")
    (upstream / "LICENSE.alertmanager.txt").unlink()
    assert spec_drift.main([str(upstream)]) == 1
    err = capsys.readouterr().err
    assert "stripe_spec3.trimmed.json: sha256" in err
    assert "LICENSE.alertmanager.txt: missing" in err


def test_drift_checker_finds_what_zendesk_no_longer_has(
    upstream: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = upstream / spec_drift.UPSTREAM_ZENDESK
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["paths"]["/api/v2/users/me"]
    ticket = document["components"]["schemas"]["TicketUpdateInput"]
    ticket["properties"] = {k: v for k, v in ticket["properties"].items() if k != "subject"}
    ticket["properties"]["status"] = {"type": "string", "enum": ["open", "solved"]}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert spec_drift.main([str(upstream)]) == 1
    err = capsys.readouterr().err
    assert "GET /api/v2/users/me: no such operation upstream" in err
    assert "PUT /api/v2/tickets/{ticket_id} body.ticket.subject: no such property" in err
    assert "enum values ['new', 'pending', 'hold', 'closed'] not upstream" in err


def test_zendesk_comparison_skips_what_is_marked_beyond_upstream() -> None:
    ours = yaml.safe_load(default_spec_path().read_text(encoding="utf-8"))
    upstream = json.loads(json.dumps(ours))  # a deep copy
    del upstream["components"]["schemas"]["UserInput"]["properties"]["skip_verify_email"]
    assert spec_drift.zendesk_problems(ours, upstream) == []
    del upstream["components"]["schemas"]["UserInput"]["properties"]["name"]
    assert spec_drift.zendesk_problems(ours, upstream) == [
        "POST /api/v2/users/create_or_update body.user.name: no such property upstream"
    ]


def test_refresh_copies_what_changed_and_records_its_hash(tmp_path: Path, upstream: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    (upstream / "NOTICE.alertmanager.txt").write_text("new notice\n", encoding="utf-8")
    assert spec_drift.refresh(upstream, specs) == ["NOTICE.alertmanager.txt"]
    assert (specs / "NOTICE.alertmanager.txt").read_text(encoding="utf-8") == "new notice\n"
    assert spec_drift.hash_problems(upstream, specs) == []
    assert spec_drift.hash_problems(specs, specs) == []

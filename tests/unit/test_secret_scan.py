"""The secret scan finds a planted secret wherever a test run shows it, and names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.harness_data import SLACK_SECRET, WEBHOOK_SECRET
from tests.support.secret_scan import ROOT, SecretRegistry, main, registry

LEAKY_TESTS = """
import logging
import structlog
from tests.support.harness_data import SLACK_SECRET, WEBHOOK_SECRET

def test_prints_it():
    print("the secret is", WEBHOOK_SECRET)

def test_logs_it_with_structlog():
    structlog.get_logger("leaky").info("configured", secret=SLACK_SECRET)

def test_logs_it_with_logging():
    logging.getLogger("leaky").warning("token %s", WEBHOOK_SECRET[::-1][::-1])

def test_fails_with_it():
    assert WEBHOOK_SECRET == "something else"

def test_quiet():
    print("nothing to see")
"""


def _run_leaky_tests(
    tmp_path: Path, selection: str, *options: str
) -> subprocess.CompletedProcess[str]:
    """pytest with the plugin on LEAKY_TESTS, in a child whose output is kept from ours
    (it holds the secrets, and this test's own output is scanned too)."""
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-p", "tests.support.secret_scan"]
    command += ["-p", "no:cacheprovider", "-q", *options, "test_leaky.py"]
    command += ["-k", selection] if selection else []
    return subprocess.run(
        command,
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_registry_knows_the_harness_secrets_by_name() -> None:
    [name] = registry.names_in(f"x-{WEBHOOK_SECRET}-y")
    assert name.startswith("WEBHOOK_SECRET (tests/support/harness_data.py:")
    assert registry.names_in("nothing secret here") == []


def test_harvest_takes_secret_names_and_credentials_not_their_names(tmp_path: Path) -> None:
    source = tmp_path / "settings_case.py"
    source.write_text(
        "API_TOKEN = 'planted-token-value-1'\n"
        "TOKEN_HEADER = 'X-Planted-Token'\n"
        "ENV = {'STRIPE_API_KEY': 'planted-stripe-key-2', 'note': 'xoxb-planted-3-abcdef'}\n"
        "def make(webhook_secret: str = 'planted-default-4'): ...\n"
        "make(webhook_secret='planted-keyword-5')\n"
        "SECRET_VAR = 'SLACK_SIGNING_SECRET'\n"
        "PREFIX = 'xoxb-'\n"
        "short_secret = 'abc'\n",
        encoding="utf-8",
    )
    scanned = SecretRegistry()
    scanned.harvest([source])
    assert sorted(scanned.secrets) == [
        "planted-default-4",
        "planted-keyword-5",
        "planted-stripe-key-2",
        "planted-token-value-1",
        "xoxb-planted-3-abcdef",
    ]
    assert scanned.names_in("... planted-token-value-1 ...") == [f"API_TOKEN ({source}:1)"]


def test_the_file_scan_exits_1_and_names_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean, leaky = tmp_path / "clean.log", tmp_path / "leaky.log"
    clean.write_text("all good\n")
    leaky.write_text(f"ok\nconnecting with {WEBHOOK_SECRET}\n")
    assert main([str(clean)]) == 0
    assert main([str(leaky)]) == 1
    out = capsys.readouterr().out
    assert f"{leaky}:2: holds the secret WEBHOOK_SECRET" in out
    assert WEBHOOK_SECRET not in out


# In one process, and spread over xdist workers (as the suite runs): finds made in a
# worker reach the controller's summary.
@pytest.fixture(scope="module", params=[(), ("-n", "2")], ids=["one-process", "xdist"])
def leaky_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> subprocess.CompletedProcess[str]:
    return _run_leaky_tests(tmp_path_factory.mktemp("leaky"), "", *request.param)


def test_a_run_that_shows_a_secret_fails_and_names_test_and_secret(
    leaky_run: subprocess.CompletedProcess[str],
) -> None:
    out = leaky_run.stdout
    assert leaky_run.returncode == pytest.ExitCode.TESTS_FAILED, out[-2000:]
    assert "1 failed, 4 passed" in out
    # Only the plugin's own section: pytest's short summary after it may quote the
    # failing assert in full (it does when CI is set), secret included.
    summary = out.split("secrets in the test output", 1)[1].split("\n=", 1)[0]
    assert WEBHOOK_SECRET not in summary and SLACK_SECRET not in summary
    assert "test_leaky.py::test_prints_it: WEBHOOK_SECRET" in summary
    assert "test_leaky.py::test_logs_it_with_structlog: SLACK_SECRET" in summary
    assert "test_leaky.py::test_logs_it_with_logging: WEBHOOK_SECRET" in summary
    assert "test_leaky.py::test_fails_with_it: WEBHOOK_SECRET" in summary
    assert "test_quiet" not in summary


def test_passing_tests_that_show_a_secret_fail_the_run(tmp_path: Path) -> None:
    result = _run_leaky_tests(tmp_path, "prints_it or quiet")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout[-2000:]
    assert "2 passed" in result.stdout
    assert WEBHOOK_SECRET not in result.stdout


def test_a_clean_run_passes(tmp_path: Path) -> None:
    result = _run_leaky_tests(tmp_path, "quiet")
    assert result.returncode == pytest.ExitCode.OK, result.stdout[-2000:]
    assert "secrets in the test output" not in result.stdout

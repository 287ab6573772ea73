"""No secret the tests configure may appear in any output of the test run.

A pytest plugin (registered in tests/conftest.py). The secrets are every string literal in
tests/ and bench/ that is assigned to, passed as, or keyed by a name like ``*secret*``,
``*token*``, ``*api_key*`` or ``*password*``, and every literal that looks like a Slack or
Stripe credential (``xoxb-``, ``xapp-``, ``sk_test_``...): the constants the harness
builds its Settings from, the stand-ins' own credentials, and the one-off secrets of unit
tests. Tests that make a secret at run time add it with ``registry.add``.

The plugin reads everything pytest captured of each test (stdout, stderr, log records,
the error lines of a failure) and every log record that reaches the root logger. If a
secret appears, the session fails, naming the test and the secret's name (never its value).

``python -m tests.support.secret_scan FILE...`` scans files (a tee'd pytest output) the
same way and exits 1 on a find; .ci/run uses it.
"""

from __future__ import annotations

import ast
import logging
import re
import sys
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"secret|token|api_?key|password|passwd", re.IGNORECASE)
# Names that hold the name of a secret, not one: headers, variables, fields, prefixes.
NOT_A_SECRET_NAME = re.compile(
    r"(header|env|var|field|name|url|path|prefix|pattern|alias|type|kind|id|hint)s?$",
    re.IGNORECASE,
)
CREDENTIAL = re.compile(r"^(xox[abpr]-|xapp-|sk_(test|live)_|rk_(test|live)_|whsec_).{4}")
ENV_OR_HEADER = re.compile(r"^([A-Z][A-Z0-9_]+|X-[\w-]+|[\w.-]*\{.*\}.*)$")
MIN_LENGTH = 8  # shorter values ("other", "wrong") are too common to scan for
FINDS_SECTION = "deskhand secret scan"  # a report's finds, names only


@dataclass
class SecretRegistry:
    """Secret values by the name they are known under (a name, and where it was set)."""

    secrets: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        if len(value) >= MIN_LENGTH and not ENV_OR_HEADER.match(value):
            self.secrets.setdefault(value, name)

    def names_in(self, text: str) -> list[str]:
        return sorted({name for value, name in self.secrets.items() if value in text})

    def harvest(self, files: Iterable[Path]) -> None:
        for path in files:
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            for name, value, line in _assigned_literals(tree):
                self.add(f"{name} ({where}:{line})", value)


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _named(name: str | None) -> bool:
    return (
        bool(name)
        and bool(SECRET_NAME.search(name or ""))
        and not NOT_A_SECRET_NAME.search(name or "")
    )


def _target_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _assigned_literals(tree: ast.AST) -> Iterator[tuple[str, str, int]]:
    """(name, value, line) of every string literal that a secret-like name holds."""
    for node in ast.walk(tree):
        pairs: list[tuple[str | None, ast.AST | None]] = []
        if isinstance(node, ast.Assign):
            pairs = [(_target_name(t), node.value) for t in node.targets]
        elif isinstance(node, ast.AnnAssign):
            pairs = [(_target_name(node.target), node.value)]
        elif isinstance(node, ast.keyword):
            pairs = [(node.arg, node.value)]
        elif isinstance(node, ast.Dict):
            pairs = [(_literal(k), v) for k, v in zip(node.keys, node.values, strict=True)]
        elif isinstance(node, ast.arguments):
            positional = [*node.posonlyargs, *node.args]
            tail = positional[len(positional) - len(node.defaults) :]
            pairs = [(a.arg, d) for a, d in zip(tail, node.defaults, strict=True)]
            pairs += [(a.arg, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True)]
        for name, value_node in pairs:
            value = _literal(value_node)
            if value is not None and _named(name):
                yield str(name), value, getattr(value_node, "lineno", 0)
        value = _literal(node)
        if value is not None and CREDENTIAL.match(value):
            yield "a credential literal", value, getattr(node, "lineno", 0)


def project_files() -> list[Path]:
    return sorted(p for d in ("tests", "bench") for p in (ROOT / d).rglob("*.py"))


registry = SecretRegistry()
registry.harvest(project_files())


def _error_lines(report: pytest.TestReport) -> str:
    """What a failure says (the ``E`` lines), not the test's source it quotes."""
    if report.longrepr is None:
        return ""
    text = str(report.longrepr)
    return "\n".join(line for line in text.splitlines() if line.startswith("E "))


@dataclass(eq=False)  # pytest keeps plugins in sets
class SecretScan:
    """The plugin: collects finds per test, fails the session if there are any."""

    registry: SecretRegistry
    finds: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    current: str = "(outside a test)"
    reported: set[tuple[str, str, str]] = field(default_factory=set)

    def scan(self, where: str, what: str, text: str) -> None:
        for name in self.registry.names_in(text):
            self.finds.setdefault((where, name), set()).add(what)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self.current = item.nodeid
        yield
        self.current = "(outside a test)"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Scan where the test ran (an xdist worker knows the secrets a test added at run
        time), and carry the finds, by name only, on the report to the controller."""
        report = yield
        for title, content in report.sections:
            self.scan(item.nodeid, title, content)
        self.scan(item.nodeid, f"failure ({report.when})", _error_lines(report))
        new = sorted(
            (where, name, what)
            for (where, name), whats in self.finds.items()
            for what in whats
            if (where, name, what) not in self.reported
        )
        if new:
            self.reported.update(new)
            report.sections.append((FINDS_SECTION, "\n".join("\t".join(f) for f in new)))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for title, content in report.sections:
            if title == FINDS_SECTION:
                for line in content.splitlines():
                    where, name, what = line.split("\t")
                    self.finds.setdefault((where, name), set()).add(what)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.finds:
            return
        terminalreporter.section("secrets in the test output", red=True)
        for (where, name), what in sorted(self.finds.items()):
            terminalreporter.line(f"{where}: {name} in {', '.join(sorted(what))}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.finds and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


class _RecordScanner(logging.Handler):
    """Sees each log record that reaches the root logger, whatever pytest captures."""

    def __init__(self, plugin: SecretScan) -> None:
        super().__init__(logging.NOTSET)
        self.plugin = plugin

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose args do not fit its message
            text = f"{record.msg!r} {record.args!r}"
        self.plugin.scan(self.plugin.current, f"log record {record.name}", text)


def pytest_configure(config: pytest.Config) -> None:
    plugin = SecretScan(registry)
    config.pluginmanager.register(plugin, "deskhand-secret-scan")
    logging.getLogger().addHandler(_RecordScanner(plugin))


def main(paths: list[str]) -> int:
    found = 0
    for path in paths:
        for number, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
            for name in registry.names_in(line):
                print(f"{path}:{number}: holds the secret {name}")
                found += 1
    print(f"secret scan: {len(registry.secrets)} secrets, {found} found in {len(paths)} files")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The architecture, checked on the source with `ast`.

Layers, lowest first: storage/ and integrations/ (know nothing of the bot), bot/ (the
application), handlers/ (Slack listeners and HTTP routes calling into bot/). Imports only
point downwards, with one exception: bot/app.py is the composition root. It builds the
Bolt app and the aiohttp application and installs handlers/ on them, so it alone in bot/
imports handlers and slack_bolt.

Every import counts, including those inside functions (a lazy import is a dependency too).
Nothing is built at import time: engines, apps and settings are made by functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "integrations", "storage")
COMPOSITION_ROOT = "bot/app.py"
MAX_LINES = 400

# Calls that construct an engine, an app or the settings: never at module level.
CONSTRUCTORS = frozenset(
    {
        "create_async_engine",
        "create_engine",
        "make_engine",
        "AsyncApp",
        "App",
        "Application",  # aiohttp's web.Application
        "Settings",
        "load_settings",
        "Database",
    }
)


@dataclass(frozen=True)
class Import:
    module: str  # the dotted name imported (absolute)
    line: int


def source_files() -> list[Path]:
    files = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    assert files, f"no source found under {ROOT}"
    return files


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path = ROOT) -> list[Import]:
    """Every import in the file, anywhere in it, with relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append(Import(module, node.lineno))
            # `from bot import app` imports bot.app.
            found.extend(Import(f"{module}.{alias.name}", node.lineno) for alias in node.names)
    return found


def top(module: str) -> str:
    return module.split(".", 1)[0]


def violations(
    files: list[Path], forbidden: set[str], *, allowed: frozenset[str] = frozenset()
) -> list[str]:
    found = []
    for path in files:
        if rel(path) in allowed:
            continue
        for imp in imports(path):
            if top(imp.module) in forbidden:
                found.append(f"{rel(path)}:{imp.line} imports {imp.module}")
    return sorted(set(found))


def files_in(*packages: str) -> list[Path]:
    return [p for p in source_files() if rel(p).split("/", 1)[0] in packages]


# -- dependency direction ----------------------------------------------------------------------


def test_storage_and_integrations_do_not_import_the_bot_or_handlers() -> None:
    found = violations(files_in("storage", "integrations"), {"bot", "handlers"})
    assert found == [], "lower layers reach up:\n" + "\n".join(found)


def test_only_the_composition_root_in_bot_imports_handlers() -> None:
    found = violations(files_in("bot"), {"handlers"}, allowed=frozenset({COMPOSITION_ROOT}))
    assert found == [], "bot/ reaches up into handlers/:\n" + "\n".join(found)


def test_only_the_composition_root_in_bot_imports_slack_bolt() -> None:
    found = violations(files_in("bot"), {"slack_bolt"}, allowed=frozenset({COMPOSITION_ROOT}))
    assert found == [], "Bolt belongs to bot/app.py and handlers/:\n" + "\n".join(found)


def test_the_composition_root_is_where_handlers_are_wired() -> None:
    # Keeps the exception above honest: if bot/app.py stops wiring handlers, drop it.
    wired = {top(i.module) for i in imports(ROOT / COMPOSITION_ROOT)}
    assert {"handlers", "slack_bolt"} <= wired


def test_the_import_scanner_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    sample = tmp_path / "bot" / "sub" / "mod.py"
    sample.parent.mkdir(parents=True)
    sample.write_text(
        "def f():\n    from handlers.slack import desk\n"
        "from ..outbox import kinds\nfrom . import sibling\nimport slack_bolt.async_app\n"
    )
    modules = {i.module for i in imports(sample, root=tmp_path)}
    assert {"handlers.slack", "bot.outbox", "bot.sub.sibling", "slack_bolt.async_app"} <= modules


# -- nothing built at import time ---------------------------------------------------------------


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def import_time_calls(tree: ast.AST) -> Iterator[ast.Call]:
    """Calls evaluated when the module is imported: everything but function bodies
    (decorators and default values do run at import time, so they are included)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.extend(node.decorator_list)
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.Lambda):
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def constructions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{rel(path)}:{call.lineno} calls {_callee(call)}(...) at import time"
        for call in import_time_calls(tree)
        if _callee(call) in CONSTRUCTORS
    ]


def test_nothing_is_constructed_at_module_level() -> None:
    found = [line for path in source_files() for line in constructions(path)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("snippet", "flagged"),
    [
        ("engine = create_async_engine('sqlite://')", True),
        ("app = web.Application()", True),
        ("settings = Settings()", True),
        ("class A:\n    bolt = AsyncApp()", True),
        ("def f(s=Settings()):\n    pass", True),
        ("@register(AsyncApp())\ndef f():\n    pass", True),
        ("def f():\n    return create_async_engine('sqlite://')", False),
        ("async def f():\n    app = web.Application()", False),
        ("class A:\n    def m(self):\n        return Settings()", False),
        ("f = lambda: Settings()", False),
    ],
)
def test_the_construction_scanner(snippet: str, flagged: bool) -> None:
    tree = ast.parse(snippet)
    found = [c for c in import_time_calls(tree) if _callee(c) in CONSTRUCTORS]
    assert bool(found) is flagged


# -- size ------------------------------------------------------------------------------------


def test_every_source_file_is_under_400_lines() -> None:
    sizes = {rel(p): len(p.read_text(encoding="utf-8").splitlines()) for p in source_files()}
    offenders = sorted(f"{name}: {n} lines" for name, n in sizes.items() if n >= MAX_LINES)
    assert offenders == [], f"files of {MAX_LINES} lines or more:\n" + "\n".join(offenders)

"""Keep ``tests/specs`` in step with an upstream copy of the vendor specs.

``python -m tests.support.spec_drift DIR`` checks, against the upstream directory ``DIR``:

* every copied file still has the sha256 recorded in ``tests/specs/SOURCES.sha256``;
* every operation, parameter, and schema property in deskhand's own Zendesk document
  (``zendesk_support.deskhand.yaml``) still exists in Zendesk's published document, with the
  same type, and that each enum we declare is still a subset of Zendesk's. Nodes marked
  ``x-deskhand-beyond-upstream`` (documented by Zendesk in prose only) are not compared.

It exits 1 with one line per difference. ``--refresh`` first copies the listed files from
``DIR`` and rewrites their hashes (then re-read what changed before committing). The tests
themselves never read outside the repository: ``tests/unit/test_vendor_specs.py`` checks the
copies against ``SOURCES.sha256`` only.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
SOURCES = "SOURCES.sha256"
OUR_ZENDESK = "zendesk_support.deskhand.yaml"
UPSTREAM_ZENDESK = "zendesk_support_oas.trimmed.yaml"
BEYOND = "x-deskhand-beyond-upstream"
UNRESOLVED = "x-deskhand-unresolved"  # stands for a $ref that leads nowhere
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
Node = dict[str, Any]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded_hashes(specs_dir: Path = SPECS_DIR) -> dict[str, str]:
    """File name -> sha256, as ``sha256sum`` writes them in ``SOURCES.sha256``."""
    hashes: dict[str, str] = {}
    for line in (specs_dir / SOURCES).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            hashes[name.lstrip("*")] = digest
    return hashes


def hash_problems(directory: Path, specs_dir: Path = SPECS_DIR) -> list[str]:
    """What in ``directory`` differs from the hashes recorded in ``specs_dir``."""
    problems = []
    for name, digest in sorted(recorded_hashes(specs_dir).items()):
        path = directory / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256(path) != digest:
            problems.append(f"{path}: sha256 {sha256(path)}, {SOURCES} says {digest}")
    return problems


def refresh(upstream: Path, specs_dir: Path = SPECS_DIR) -> list[str]:
    """Copy every listed file from ``upstream`` and record its hash; the names changed."""
    changed, lines = [], []
    for name, digest in sorted(recorded_hashes(specs_dir).items()):
        source = upstream / name
        if not source.is_file():  # reported by hash_problems
            lines.append(f"{digest}  {name}\n")
            continue
        if sha256(source) != digest:
            shutil.copyfile(source, specs_dir / name)
            changed.append(name)
        lines.append(f"{sha256(source)}  {name}\n")
    (specs_dir / SOURCES).write_text("".join(lines), encoding="utf-8")
    return changed


# -- our Zendesk document against Zendesk's ------------------------------------------------


class _Document:
    def __init__(self, document: Node) -> None:
        self.document = document

    def resolve(self, node: Node) -> Node:
        for _ in range(50):  # a $ref chain; a cycle of bare $refs would be a broken document
            if "$ref" not in node:
                break
            target: Any = self.document
            try:
                for part in node["$ref"].removeprefix("#/").split("/"):
                    target = target[part]
            except (KeyError, TypeError):
                return {UNRESOLVED: node["$ref"]}
            node = target
        return node

    def flatten(self, node: Node) -> tuple[dict[str, Node], set[str], list[Any] | None]:
        """A schema's properties, types and enum, through allOf/anyOf/oneOf."""
        node = self.resolve(node)
        properties: dict[str, Node] = dict(node.get("properties") or {})
        types = {node["type"]} if "type" in node else set()
        for key in ("allOf", "anyOf", "oneOf"):
            for member in node.get(key) or ():
                member_properties, member_types, _ = self.flatten(member)
                properties = member_properties | properties
                types |= member_types
        return properties, types, node.get("enum")

    def parameters(self, item: Node, operation: Node) -> dict[tuple[str, str], Node]:
        found = [*(item.get("parameters") or []), *(operation.get("parameters") or [])]
        resolved = [self.resolve(p) for p in found]
        return {(p["name"], p["in"]): p for p in resolved}

    def json_schema(self, holder: Node | None) -> Node | None:
        content = (self.resolve(holder) if holder else {}).get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        return schema if isinstance(schema, dict) else None


class _Comparison:
    """Our document against upstream's; each pair of schemas is compared (and reported) once,
    named after the first operation that reaches it."""

    def __init__(self, ours: Node, upstream: Node) -> None:
        self.ours, self.theirs = _Document(ours), _Document(upstream)
        self.seen: set[tuple[int, int]] = set()

    def schema(self, mine: Node, upstream: Node, where: str) -> Iterator[str]:
        if BEYOND in mine:
            return
        mine, upstream = self.ours.resolve(mine), self.theirs.resolve(upstream)
        if BEYOND in mine or (id(mine), id(upstream)) in self.seen:
            return
        for side, node in (("our", mine), ("upstream", upstream)):
            if UNRESOLVED in node:
                yield f"{where}: {side} $ref {node[UNRESOLVED]} does not resolve"
        if UNRESOLVED in mine or UNRESOLVED in upstream:
            return
        self.seen.add((id(mine), id(upstream)))
        my_properties, my_types, my_enum = self.ours.flatten(mine)
        up_properties, up_types, up_enum = self.theirs.flatten(upstream)
        if my_types and up_types and not my_types & up_types:
            yield f"{where}: type {sorted(my_types)}, upstream {sorted(up_types)}"
        if my_enum is not None and up_enum is not None:
            extra = [v for v in my_enum if v is not None and v not in up_enum]
            if extra:
                yield f"{where}: enum values {extra} not upstream (upstream: {up_enum})"
        for name, schema in my_properties.items():
            if BEYOND in schema:
                continue
            if name not in up_properties:
                yield f"{where}.{name}: no such property upstream"
            else:
                yield from self.schema(schema, up_properties[name], f"{where}.{name}")
        if "items" in mine and "items" in upstream:
            yield from self.schema(mine["items"], upstream["items"], f"{where}[]")

    def operation(self, path: str, method: str) -> Iterator[str]:
        item, up_item = self.ours.document["paths"][path], self.theirs.document["paths"][path]
        operation, up_operation = item[method], up_item[method]
        where = f"{method.upper()} {path}"
        if operation.get("operationId") != up_operation.get("operationId"):
            ids = operation.get("operationId"), up_operation.get("operationId")
            yield f"{where}: operationId {ids[0]}, upstream {ids[1]}"
        up_parameters = self.theirs.parameters(up_item, up_operation)
        for key, parameter in self.ours.parameters(item, operation).items():
            if BEYOND in parameter:
                continue
            if key not in up_parameters:
                yield f"{where}: {key[1]} parameter {key[0]!r} not upstream"
                continue
            schemas = parameter.get("schema") or {}, up_parameters[key].get("schema") or {}
            yield from self.schema(*schemas, f"{where} {key[0]}")
        body = self.ours.json_schema(operation.get("requestBody"))
        up_body = self.theirs.json_schema(up_operation.get("requestBody"))
        if body is not None and up_body is None:
            yield f"{where}: no JSON request body upstream"
        elif body is not None and up_body is not None:
            yield from self.schema(body, up_body, f"{where} body")
        up_responses = up_operation.get("responses") or {}
        for status, response in (operation.get("responses") or {}).items():
            if status not in up_responses:
                yield f"{where}: response {status} not upstream"
                continue
            schema = self.ours.json_schema(response)
            up_schema = self.theirs.json_schema(up_responses[status])
            if schema is not None and up_schema is not None:
                yield from self.schema(schema, up_schema, f"{where} {status}")


def zendesk_problems(ours: Node, upstream: Node) -> list[str]:
    """Where deskhand's Zendesk document says what Zendesk's own no longer does."""
    comparison = _Comparison(ours, upstream)
    problems: list[str] = []
    for path, item in ours["paths"].items():
        for method in (m for m in _METHODS if m in item):
            if method not in (upstream["paths"].get(path) or {}):
                problems.append(f"{method.upper()} {path}: no such operation upstream")
            else:
                problems += comparison.operation(path, method)
    up_schemas = upstream["components"]["schemas"]
    for name, schema in ours["components"]["schemas"].items():
        if BEYOND in schema:
            continue
        if name not in up_schemas:
            problems.append(f"schema {name}: not upstream")
        else:
            problems += comparison.schema(schema, up_schemas[name], f"schema {name}")
    return problems


def drift(upstream: Path, specs_dir: Path = SPECS_DIR) -> list[str]:
    """Every difference between ``specs_dir`` and the upstream directory."""
    problems = hash_problems(upstream, specs_dir)
    upstream_zendesk = upstream / UPSTREAM_ZENDESK
    if not upstream_zendesk.is_file():
        return [*problems, f"{upstream_zendesk}: missing"]
    ours = yaml.safe_load((specs_dir / OUR_ZENDESK).read_text(encoding="utf-8"))
    theirs = yaml.safe_load(upstream_zendesk.read_text(encoding="utf-8"))
    return problems + [f"{OUR_ZENDESK}: {p}" for p in zendesk_problems(ours, theirs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.spec_drift")
    parser.add_argument("upstream", type=Path, help="the upstream specs directory")
    parser.add_argument("--refresh", action="store_true", help="copy changed files first")
    args = parser.parse_args(argv)
    if args.refresh:
        for name in refresh(args.upstream):
            print(f"refreshed {name}")
    problems = drift(args.upstream)
    for problem in problems:
        print(f"spec drift: {problem}", file=sys.stderr)
    if problems:
        print(
            f"spec drift: tests/specs differs from {args.upstream} "
            "(see tests/specs/README.md, 'Refreshing')",
            file=sys.stderr,
        )
        return 1
    print(f"tests/specs is in step with {args.upstream}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

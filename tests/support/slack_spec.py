"""Check Slack Web API calls against the vendored Swagger 2.0 description.

The spec is ``slack_web_openapi_v2.json`` from slackapi/slack-api-specs (2021-09), kept in
``tests/specs``. See ``tests/specs/README.md`` ("Slack") for its known gaps; the ones that
matter here:

* Every method is modelled with exactly one HTTP verb, and several are modelled as GET
  although clients POST them (``views.*`` with ``trigger_id``/``view`` "in the query").
  Slack accepts both verbs, so an incoming GET or POST is mapped to whatever operation the
  path declares, and parameters are looked up by name whatever their ``in``.
* ``token`` is declared as a header or query parameter; real clients send
  ``Authorization: Bearer ...``. ``token`` is never required or checked here; pass the
  request ``headers`` to :meth:`SlackSpec.validate` to check the Authorization header.
* The spec predates some methods and arguments; those are listed below
  (``NEWER_METHODS``, ``NEWER_ARGS``) with their documented types.

Usage::

    spec = SlackSpec.load()
    problems = spec.validate("chat.update", "POST", {"channel": "C1", "text": "hi"})
    # -> ["required parameter 'ts' is missing"]
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_FILE = "slack_web_openapi_v2.json"

# Parameters whose value is JSON: in a form body they are JSON strings, in a JSON body
# they are real arrays/objects. Value: the JSON container type expected.
JSON_FIELDS: dict[str, type] = {
    "blocks": list,
    "attachments": list,
    "view": dict,
    "metadata": dict,
    "files": list,
}

# The spec declares these as ``type: string`` on some methods (chat.postMessage ``as_user``,
# chat.update ``as_user``/``link_names``) although they are flags; slack_sdk sends them as
# JSON booleans. Accept a boolean for them.
STRING_DECLARED_FLAGS = frozenset({"as_user", "link_names"})


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # string | integer | number | boolean | array
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    http_method: str  # the verb the spec declares (informational)
    params: dict[str, Param]
    consumes: tuple[str, ...] = ()
    from_spec: bool = True


# Methods newer than the 2021 spec, described by their documented arguments
# (docs.slack.dev/reference/methods/...). slack_sdk's files_upload_v2 uses both.
NEWER_METHODS: dict[str, Operation] = {
    "files.getUploadURLExternal": Operation(
        "files.getUploadURLExternal",
        "POST",
        {
            "filename": Param("filename", "string", True),
            "length": Param("length", "integer", True),
            "alt_txt": Param("alt_txt", "string"),
            "snippet_type": Param("snippet_type", "string"),
        },
        ("application/x-www-form-urlencoded",),
        from_spec=False,
    ),
    "files.completeUploadExternal": Operation(
        "files.completeUploadExternal",
        "POST",
        {
            "files": Param("files", "string", True),  # JSON array of {id, title}
            "channel_id": Param("channel_id", "string"),
            "channels": Param("channels", "string"),
            "initial_comment": Param("initial_comment", "string"),
            "thread_ts": Param("thread_ts", "string"),
            "blocks": Param("blocks", "string"),
        },
        ("application/x-www-form-urlencoded", "application/json"),
        from_spec=False,
    ),
}

# Arguments newer than the 2021 spec that slack_sdk (3.3x) sends when asked to. Only those
# absent from the spec are listed (``unfurl_links``/``unfurl_media``/``reply_broadcast`` on
# chat.postMessage are in the spec already).
NEWER_ARGS: dict[str, tuple[Param, ...]] = {
    "chat.postMessage": (Param("metadata", "string"), Param("markdown_text", "string")),
    "chat.update": (
        Param("metadata", "string"),
        Param("markdown_text", "string"),
        Param("file_ids", "array"),
        Param("reply_broadcast", "boolean"),
    ),
    "chat.postEphemeral": (Param("markdown_text", "string"),),
    "conversations.history": (Param("include_all_metadata", "boolean"),),
    "conversations.replies": (Param("include_all_metadata", "boolean"),),
    "views.open": (Param("interactivity_pointer", "string"),),
}
# slack_sdk adds ``team_id`` to every call when the client is built with team_id= (org apps).
NEWER_ARGS_ANY_METHOD: tuple[Param, ...] = (Param("team_id", "string"),)

# Required by Slack in practice although the spec marks them optional.
REQUIRED_BEYOND_SPEC: dict[str, tuple[str, ...]] = {
    "conversations.history": ("channel",),
    "conversations.replies": ("channel", "ts"),
    "conversations.info": ("channel",),
    "users.info": ("user",),
}
# A required parameter that may be replaced by another (documented alternative).
REQUIRED_ALTERNATIVES: dict[tuple[str, str], str] = {
    ("views.open", "trigger_id"): "interactivity_pointer",
}

_INT_RE = re.compile(r"^[+-]?\d+$")
_NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOL_STRINGS = frozenset({"true", "false", "1", "0"})


def default_spec_path() -> Path:
    return Path(__file__).resolve().parent.parent / "specs" / SPEC_FILE


@functools.cache
def _load_spec(path: Path) -> SlackSpec:
    with path.open(encoding="utf-8") as fh:
        document = json.load(fh)
    operations: dict[str, Operation] = {}
    for raw_path, verbs in document["paths"].items():
        method = raw_path.lstrip("/")
        # Each path declares exactly one verb in this spec; take the first one.
        verb, op = next(iter(verbs.items()))
        params = {
            p["name"]: Param(p["name"], p.get("type", "string"), bool(p.get("required")))
            for p in op.get("parameters", [])
            if p.get("name") != "token"
        }
        operations[method] = Operation(method, verb.upper(), params, tuple(op.get("consumes", ())))
    return SlackSpec(path=path, operations=operations)


@dataclass
class SlackSpec:
    path: Path
    operations: dict[str, Operation] = field(repr=False)

    @classmethod
    def load(cls, path: Path | None = None) -> SlackSpec:
        """Load (once per process and path) the Slack spec."""
        return _load_spec((path or default_spec_path()).resolve())

    def operation(self, method: str) -> Operation | None:
        return self.operations.get(method) or NEWER_METHODS.get(method)

    def validate(
        self,
        method: str,
        http_method: str,
        args: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Problems with one call; empty when it matches the spec.

        ``args`` are the merged query/body arguments (form strings or decoded JSON values).
        When ``headers`` is given, also check the Authorization header and that a JSON body
        goes only to a method whose spec ``consumes`` it (Slack ignores JSON bodies on
        read methods such as conversations.history).
        """
        op = self.operation(method)
        if op is None:
            return [f"method {method!r} is not in the Slack spec"]
        problems: list[str] = []
        if http_method.upper() not in ("GET", "POST"):
            problems.append(f"HTTP {http_method} is not accepted (Slack takes GET or POST)")
        if headers is not None:
            problems.extend(_check_headers(op, headers))
        params = dict(op.params)
        for extra in NEWER_ARGS.get(method, ()) + NEWER_ARGS_ANY_METHOD:
            params.setdefault(extra.name, extra)
        required = [p.name for p in op.params.values() if p.required]
        required += [n for n in REQUIRED_BEYOND_SPEC.get(method, ()) if n not in required]
        for name in required:
            if _missing(args.get(name)):
                alt = REQUIRED_ALTERNATIVES.get((method, name))
                if alt is None or _missing(args.get(alt)):
                    problems.append(f"required parameter {name!r} is missing")
        for name, value in args.items():
            if name == "token":
                continue
            param = params.get(name)
            if param is None:
                problems.append(f"unknown parameter {name!r}")
                continue
            problem = _type_problem(param, value)
            if problem:
                problems.append(problem)
        return problems


def _missing(value: Any) -> bool:
    return value is None or value == ""


def _check_headers(op: Operation, headers: Mapping[str, str]) -> list[str]:
    lowered = {k.lower(): v for k, v in headers.items()}
    problems = []
    auth = lowered.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
        problems.append("no 'Authorization: Bearer <token>' header")
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" and "application/json" not in op.consumes:
        problems.append(f"JSON body sent, but the spec only consumes {list(op.consumes)}")
    return problems


def _type_problem(param: Param, value: Any) -> str | None:
    name, expected = param.name, param.type
    bad = f"parameter {name!r} should be {expected}, got {type(value).__name__} {value!r:.60}"
    if name in JSON_FIELDS:
        container = JSON_FIELDS[name]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return f"parameter {name!r} is not valid JSON: {value!r:.60}"
        if not isinstance(value, container):
            return f"parameter {name!r} should be a JSON {container.__name__}, got {value!r:.60}"
        return None
    if expected == "string":
        if isinstance(value, str):
            return None
        if isinstance(value, bool) and name in STRING_DECLARED_FLAGS:
            return None
        return bad
    if expected == "boolean":
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and value.lower() in _BOOL_STRINGS:
            return None
        if type(value) is int and value in (0, 1):
            return None
        return bad
    if expected == "integer":
        if type(value) is int:
            return None
        if isinstance(value, str) and _INT_RE.match(value):
            return None
        return bad
    if expected == "number":
        if type(value) in (int, float):
            return None
        if isinstance(value, str) and _NUM_RE.match(value):
            return None
        return bad
    if expected == "array":
        if isinstance(value, list | str):  # list or comma-separated
            return None
        return bad
    return None

"""Parsing the JSON vendors ship: strict RFC 8259 first, with errors a person can act on.

- UTF-8 only; a UTF-8 byte-order mark is accepted (and kept by callers that store the bytes).
- Syntax errors name the line and column; comments and trailing commas get a hint to use
  lenient mode.
- Duplicate member names are not an error in JSON, but they lose data silently: the last
  value wins (as in JavaScript's JSON.parse) and each duplicate is reported as a warning with
  its JSON path.
- Lenient mode accepts JSON5 (comments, trailing commas, single quotes, unquoted keys) through
  the `json5` package: it implements the JSON5 grammar exactly, is pure Python (no build step)
  and takes the same `object_pairs_hook`, so duplicate detection works the same way. It is only
  used after strict parsing failed, so its speed does not matter.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"


@dataclass
class ParseProblem:
    """A problem found while parsing: `kind` is 'encoding', 'json-syntax', 'not-strict-json' or
    'duplicate-key'; `field` a JSON path or 'line N, column M'."""

    kind: str
    field: str
    message: str
    severity: str = "error"


@dataclass
class Parsed:
    """The parsed document, or None with the errors; `warnings` lists duplicate keys."""

    data: object = None
    errors: list[ParseProblem] = field(default_factory=list)
    warnings: list[ParseProblem] = field(default_factory=list)
    lenient_used: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def json_path(parts) -> str:
    """Dotted JSON path as users read it: ('properties', 'status', 'forms', 0) -> properties.status.forms.0."""
    return ".".join(str(p) for p in parts)


class _NotJsonConstant(ValueError):
    """NaN / Infinity: Python's json accepts them, JSON (RFC 8259) does not."""


def _reject_constant(name):
    raise _NotJsonConstant(name)


class _DuplicateTracker:
    """object_pairs_hook that builds dicts (last value wins) and remembers duplicated names."""

    def __init__(self):
        self.found: list[tuple[dict, list[str]]] = []

    def __call__(self, pairs):
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen, dups = set(), []
            for key, _ in pairs:
                if key in seen and key not in dups:
                    dups.append(key)
                seen.add(key)
            self.found.append((obj, dups))
        return obj

    def problems(self, root) -> list[ParseProblem]:
        """Locate each dict with duplicates in the finished tree, to report JSON paths."""
        if not self.found:
            return []
        wanted = {id(obj): dups for obj, dups in self.found}
        out: list[ParseProblem] = []

        def walk(node, path):
            if isinstance(node, dict):
                if id(node) in wanted:
                    for key in wanted[id(node)]:
                        out.append(ParseProblem(
                            "duplicate-key", json_path(path + [key]),
                            f"member name {key!r} appears more than once; the last value is used "
                            "(earlier ones are lost)", "warning"))
                for k, v in node.items():
                    walk(v, path + [k])
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, path + [i])

        walk(root, [])
        return out


def _decode(raw: bytes) -> tuple[str | None, ParseProblem | None]:
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    elif raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None, ParseProblem("encoding", "line 1, column 1", "the file is UTF-16; JSON must be UTF-8")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, ParseProblem("encoding", f"line {line}, column {col}", f"not UTF-8: byte {raw[exc.start]:#04x} cannot be decoded")


def _hint(text: str, exc: json.JSONDecodeError) -> tuple[str, str]:
    """Kind and message for a strict-JSON syntax error; recognise comments and trailing commas."""
    pos = exc.pos
    rest = text[pos:pos + 2]
    if rest.startswith("//") or rest.startswith("/*"):
        return "not-strict-json", "comments are not allowed in JSON (use --lenient to accept them)"
    if rest[:1] in "}]":
        before = text[:pos].rstrip()
        if before.endswith(","):
            return "not-strict-json", "trailing comma before this bracket is not allowed in JSON (use --lenient to accept it)"
    if rest[:1] == "'":
        return "not-strict-json", "strings must use double quotes in JSON (use --lenient to accept single quotes)"
    if exc.msg.startswith("Expecting property name") and rest[:1] not in ('"', ""):
        return "json-syntax", f"{exc.msg} (JSON needs double-quoted member names)"
    return "json-syntax", exc.msg


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate_path(value, path: list):
    """JSON path (as parts) of the first key or string with an unpaired surrogate, else None.
    json.loads accepts escapes such as \\ud800 alone; such a string cannot be stored as UTF-8."""
    def bad(text: str) -> bool:
        return any(0xD800 <= ord(c) <= 0xDFFF for c in text)

    if isinstance(value, str):
        return path if bad(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and bad(key):
            return path + [key]
        found = _lone_surrogate_path(item, path + [key])
        if found is not None:
            return found
    return None


def parse_json(raw: bytes, lenient: bool = False) -> Parsed:
    """Parse bytes as strict JSON (or JSON5 when `lenient` and strict parsing fails)."""
    text, problem = _decode(raw)
    if problem:
        return Parsed(errors=[problem])
    tracker = _DuplicateTracker()
    try:
        data = json.loads(text, object_pairs_hook=tracker, parse_constant=_reject_constant)
        if _SURROGATE_ESCAPE.search(text):
            where = _lone_surrogate_path(data, [])
            if where is not None:
                return Parsed(errors=[ParseProblem("encoding", json_path(where) or "(root)",
                                                   "a string holds an unpaired UTF-16 surrogate escape "
                                                   "(such as \\ud800), which is not Unicode text")])
        return Parsed(data, warnings=tracker.problems(data))
    except _NotJsonConstant as exc:
        pos = max(text.find(str(exc)), 0)
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        strict_error = ParseProblem("not-strict-json", f"line {line}, column {col}",
                                    f"{exc} is not a JSON number (use --lenient to accept it)")
    except json.JSONDecodeError as exc:
        kind, message = _hint(text, exc)
        strict_error = ParseProblem(kind, f"line {exc.lineno}, column {exc.colno}", message)
    except RecursionError:
        return Parsed(errors=[ParseProblem("json-syntax", "line 1, column 1", "nesting is too deep")])
    if not lenient:
        return Parsed(errors=[strict_error])
    import json5

    tracker = _DuplicateTracker()
    try:
        data = json5.loads(text, object_pairs_hook=tracker)
    except ValueError as exc:
        # json5 says '<string>:LINE Unexpected "x" at column COL'; report its position.
        found = re.match(r"<string>:(\d+) (.*) at column (\d+)", str(exc))
        where = f"line {found[1]}, column {found[3]}" if found else strict_error.field
        what = found[2] if found else str(exc)
        return Parsed(errors=[ParseProblem("json-syntax", where, f"not JSON (nor JSON5): {what}")])
    warnings = [ParseProblem("not-strict-json", strict_error.field,
                             f"accepted in lenient mode: {strict_error.message.split(' (use')[0]}", "warning")]
    return Parsed(data, warnings=warnings + tracker.problems(data), lenient_used=True)

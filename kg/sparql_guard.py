"""What can be known of a SPARQL query from its text before it reaches Oxigraph's parser: the
query form, the top-level LIMIT, whether it names its own dataset (FROM), how deeply it nests,
and which SERVICE endpoints it would call.

Why a text check at all: Oxigraph parses and plans with recursion, so a query nested a few
thousand levels deep (`{{{{...}}}}`, `STR(STR(...`, thousands of BINDs or UNIONs) overflows
the native stack and kills the process; a Python exception never gets a chance. `check`
refuses such queries first (measured crash points, pyoxigraph 0.5, 8 MB stack: about 950 nested
function calls, 680 nested EXISTS, 2,150 nested groups, 2,550 BINDs in a row, 6,400 UNIONs in
a row); every face that runs user queries (the HTTP endpoints, the explorer, `arachne query`)
calls it. The limits sit well below those points and far above hand-written queries.

The tokenizer skips strings, IRIs and comments. Where SPARQL's grammar is ambiguous (`?a<b>`:
an IRI, or `?a < b >`?), it follows Oxigraph: inside an expression `<` after an operand is an
operator, elsewhere it opens an IRI. The SERVICE check does not trust the tokenizer at all: it
reads the raw text, so no string, comment or IRI trick hides a SERVICE clause from it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kg.errors import StoreError

MAX_DEPTH = 128   # brackets ( { [ open at once
MAX_NODES = 1000  # triple patterns, operators and clauses: each adds to the parsed query tree

QUERY_FORMS = ("SELECT", "CONSTRUCT", "DESCRIBE", "ASK")
# Clause keywords that each wrap the query tree one level deeper (BIND and select expressions: AS).
_TREE_WORDS = {"UNION", "MINUS", "OPTIONAL", "FILTER", "GRAPH", "SERVICE", "EXISTS", "BIND", "AS"}
_OPERATORS = set("|&=!<>+-*/^")
# Words after which `(` opens an expression list (projection, grouping, ordering, having).
_EXPRESSION_LISTS = {"SELECT", "BY", "HAVING"}
_END_EXPRESSION_LISTS = {"WHERE", "LIMIT", "OFFSET", "VALUES", "FROM"}

_TOKEN = re.compile(
    r'''(?P<comment>\#[^\r\n]*)
      | (?P<string>"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^'\\]|\\.|'(?!''))*\'\'\'
                   |"(?:[^"\\\n\r]|\\.)*"|'(?:[^'\\\n\r]|\\.)*')
      | (?P<iri><(?:[^<>"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*>)
      | (?P<var>[?$]\w+)
      | (?P<pname>(?:[^\W\d][\w\-.]*)?:(?:[\w\-.:%]|\\[_~.\-!$&'()*+,;=/?\#@%])*)
      | (?P<word>[^\W\d]\w*)
      | (?P<num>\d+)
      | (?P<open>[{(\[])
      | (?P<close>[})\]])
      | (?P<space>\s+)
      | (?P<other>.)''',
    re.X | re.S,
)
# The same without IRIs: where `<` is an operator.
_TOKEN_NO_IRI = re.compile(_TOKEN.pattern.replace("(?P<iri>", "(?P<iri_never>(?!)"), re.X | re.S)

# SERVICE [SILENT] target, read from the raw text (strings and comments included: over-reading
# only refuses a query, under-reading would let the server call out).
_GAP = r"(?:\s|\#[^\r\n]*)*"
_SERVICE = re.compile(
    rf"(?<![\w?$:])SERVICE(?![\w:]){_GAP}(?:SILENT(?![\w:]){_GAP})?"
    r"""(?P<target><[^>]*>?|[?$]\w*|[^\s<>{}()"'\#;,]*:[^\s<>{}()"'\#;,]*)""",
    re.I,
)
_PREFIX = re.compile(rf"(?<![\w?$:])PREFIX{_GAP}([^\s:]*):{_GAP}<([^>]*)>", re.I)


class QueryRefused(StoreError):
    """A query refused before it runs (too deeply nested, or a SERVICE call that is not allowed)."""


@dataclass(frozen=True)
class QueryShape:
    """What the faces need to know about a query before running it."""

    form: str | None          # SELECT / CONSTRUCT / DESCRIBE / ASK, or None
    first_word: str | None    # the first keyword after the prologue (to name an update)
    limit: tuple[int, int, int] | None  # top-level LIMIT: (value, start, end of the number)
    values_at: int | None     # start of a trailing top-level VALUES clause
    dataset: bool = False     # a FROM / FROM NAMED clause
    depth: int = 0            # most brackets open at once
    nodes: int = 0            # operators and tree-building clauses


def _is_operand(kind: str, text: str, before: str | None) -> bool:
    if kind in ("var", "num", "string", "iri", "pname", "close"):
        return True
    return kind == "word" and (text.lower() in ("true", "false") or before == "@")


@lru_cache(maxsize=1024)
def analyse(sparql: str) -> QueryShape:
    """Form, top-level LIMIT, trailing VALUES, dataset clause, nesting depth and tree size of a query."""
    tokens = []  # (kind, text, start, end), without spaces and comments
    stack: list[str] = []  # kinds of the open brackets: expr, group, list, node
    list_at: set[int] = set()  # depths where `(` opens an expression (after SELECT, BY, HAVING)
    depth_max = nodes = 0
    pos, size = 0, len(sparql)
    while pos < size:
        prev = tokens[-1] if tokens else None
        in_expression = bool(stack) and stack[-1] == "expr"
        before = tokens[-2][1] if len(tokens) > 1 else None
        pattern = _TOKEN
        if in_expression and prev and _is_operand(prev[0], prev[1], before):
            pattern = _TOKEN_NO_IRI
        m = pattern.match(sparql, pos)
        kind, text, start, pos = m.lastgroup, m.group(), m.start(), m.end()
        if kind in ("space", "comment"):
            continue
        depth = len(stack)
        if kind == "open":
            if text == "{":
                kind_open = "group"
                list_at.discard(depth)
                if prev and prev[1] == "}":
                    nodes += 1  # a group joined to the one before
            elif text == "[":
                kind_open = "node"
            elif in_expression or depth in list_at or depth == 0 and not (prev and prev[1].upper() == "VALUES"):
                kind_open = "expr"
            elif prev and prev[0] == "word" and prev[1].upper() not in ("VALUES", "A"):
                kind_open = "expr"  # FILTER(, BIND(, function calls
            elif prev and prev[0] in ("iri", "pname") and before and before.upper() == "FILTER":
                kind_open = "expr"  # FILTER <function>(
            else:
                kind_open = "list"  # a collection or a VALUES row
            stack.append(kind_open)
            depth_max = max(depth_max, len(stack))
        elif kind == "close":
            if stack:
                stack.pop()
            list_at = {d for d in list_at if d <= len(stack)}
        elif kind == "word":
            word = text.upper()
            if word in _TREE_WORDS:
                nodes += 1
            if word in _EXPRESSION_LISTS:
                list_at.add(depth)
            elif word in _END_EXPRESSION_LISTS:
                list_at.discard(depth)
        elif kind == "other" and text in ".;," and stack[-1:] != ["expr"]:
            nodes += 1  # one more triple pattern
        elif kind == "other" and text in _OPERATORS:
            datatype_mark = text == "^" and prev is not None and (prev[0] == "string" or prev[1] == "^")
            if not datatype_mark:
                nodes += 1
        tokens.append((kind, text, start, pos))
        if depth_max > MAX_DEPTH or nodes > MAX_NODES:
            break  # refused anyway: a 20 KB attack costs no more than a small query
    return _shape(tokens, sparql, depth_max, nodes)


def _shape(tokens: list, sparql: str, depth_max: int, nodes: int) -> QueryShape:
    """Form, first word, top-level LIMIT / VALUES and dataset clause from the token list."""
    depth = 0
    form = first = None
    limit = values_at = None
    dataset = False
    for i, (kind, text, start, end) in enumerate(tokens):
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "word" and depth == 0:
            word = text.upper()
            if first is None and word not in ("PREFIX", "BASE"):
                first = word
                form = word if word in QUERY_FORMS else None
            elif word == "LIMIT" and i + 1 < len(tokens) and tokens[i + 1][0] == "num":
                nxt = tokens[i + 1]
                limit = (int(nxt[1]), nxt[2], nxt[3])
            elif word == "VALUES" and form is not None:
                values_at = start
            elif word == "FROM" and form is not None:
                dataset = True
    return QueryShape(form, first, limit, values_at, dataset, depth_max, nodes)


_FROM = re.compile(r"(?<![\w?$:])FROM(?![\w:])", re.I)


def has_dataset(sparql: str) -> bool:
    """Whether the query names its dataset (FROM / FROM NAMED), so the store's union default
    graph must not replace it. Cheap for the usual query without the word FROM."""
    return bool(_FROM.search(sparql)) and analyse(sparql).dataset


def check(sparql: str) -> QueryShape:
    """The query's shape; raises QueryRefused when it nests deeper or builds a larger tree than
    Oxigraph's parser survives with a wide margin (MAX_DEPTH, MAX_NODES)."""
    shape = analyse(sparql)
    if shape.depth > MAX_DEPTH:
        raise QueryRefused(f"the query nests {shape.depth} brackets deep; at most {MAX_DEPTH} are accepted")
    if shape.nodes > MAX_NODES:
        raise QueryRefused(f"the query has {shape.nodes} operators and clauses (UNION, OPTIONAL, FILTER, BIND, "
                           f"AS, path and expression operators); at most {MAX_NODES} are accepted")
    return shape


def service_targets(sparql: str) -> list[str]:
    """Every SERVICE target the raw text may name: absolute IRIs as IRIs (prefixed names expanded),
    anything that cannot be resolved to one IRI (a variable, a relative IRI, an unknown or
    twice-declared prefix, an escape) as the text itself. A superset: strings are read too."""
    prefixes: dict[str, str | None] = {}
    for m in _PREFIX.finditer(sparql):
        name, iri = m.group(1), m.group(2)
        prefixes[name] = iri if prefixes.get(name, iri) == iri else None
    found = []
    for m in _SERVICE.finditer(sparql):
        target = m.group("target")
        if target.startswith("<") and target.endswith(">"):
            found.append(target[1:-1])
        elif ":" in target and not target.startswith(("?", "$", "<")):
            prefix, _, local = target.partition(":")
            base = prefixes.get(prefix)
            found.append(base + local if base and "\\" not in local else target)
        else:
            found.append(target)
    return found


def refuse_services(sparql: str, allowed: frozenset[str] | set[str] = frozenset()) -> None:
    """Raise QueryRefused when the query may call a SERVICE endpoint not in `allowed`."""
    for target in service_targets(sparql):
        if target not in allowed or "\\" in target:
            what = "federated queries (SERVICE) are disabled on this server" if not allowed else \
                f"SERVICE {target!r} is not an allowed endpoint (allowed: {', '.join(sorted(allowed))})"
            raise QueryRefused(what)

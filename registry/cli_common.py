"""What every `arachne` command module shares: the consoles, the one-line failure, the store
opener, the option groups and the table helpers. The command modules import this;
registry/cli.py assembles them."""
from __future__ import annotations

import math
import os
import re
import string
import sys

import click
from rich import box
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

import kg.store
from kg.store import GraphStore, Store, StoreLocked

DEFAULT_STORE = "arachne-store"
out = Console()
err = Console(stderr=True)


def fail(message: str) -> None:
    """One line on stderr and a non-zero exit: how every user error ends."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(1)


def _open(location, write: bool) -> GraphStore:
    """Open a store; one that another process holds (`arachne serve`) opens read-only for reading
    commands, and refuses writing ones at once (StoreLocked names the holder)."""
    try:
        return kg.store.open_store(location)
    except StoreLocked:
        if write:
            raise
        return Store(location, read_only=True)


def open_store(ctx: click.Context, override: str | None = None, write: bool = False) -> GraphStore:
    """The store named by the group's --store / ARACHNE_STORE (opened once per command), or by a
    command's own --store `override` (':memory:' for a throw-away store). Commands that write say
    so (`write`), so a store held by another process is refused before any work is done."""
    if override:
        return _open(None if override == ":memory:" else override, write)
    obj = ctx.find_root().obj
    if obj is None:  # a command invoked outside the group
        obj = ctx.find_root().obj = {"store": os.environ.get("ARACHNE_STORE", DEFAULT_STORE)}
    if obj.get("opened") is None:
        obj["opened"] = _open(obj["store"], write)
        # Let go of the store (and its lock) when the command ends, also when run in-process.
        ctx.find_root().call_on_close(lambda: obj.pop("opened", None))
    elif write and isinstance(obj["opened"], Store):
        obj["opened"].check_writable()
    return obj["opened"]


def budget_options(fn):
    """The request budgets shared by feasibility and recommendation commands (canonical units)."""
    for opt in reversed([
        click.option("--max-latency-ms", type=float, help="Latency budget per inference (ms)."),
        click.option("--max-energy-uj", type=float, help="Energy budget per inference (uJ)."),
        click.option("--reserve-ram", type=int, default=0, show_default=True, help="RAM kept for the application (bytes)."),
        click.option("--reserve-flash", type=int, default=0, show_default=True, help="Flash kept for the application (bytes)."),
    ]):
        fn = opt(fn)
    return fn


def evidence_options(fn):
    """How strict the feasibility answer is (feasible, check, recommend)."""
    for opt in reversed([
        click.option("--verified-only", is_flag=True,
                     help="Only models that fit on known figures (measured or from the file): no 'likely'."),
        click.option("--onboard-sensors", is_flag=True,
                     help="A board without an on-board sensor for the model's input does not fit "
                          "(default: it fits, needing an external one)."),
    ]):
        fn = opt(fn)
    return fn


# -- tables that read at 80 columns ---------------------------------------------------------------
# Rich sizes tables to the terminal (or $COLUMNS, else 80 when piped). A column that wraps freely
# turns into a stack of one word per line when the terminal is narrow, so the tables keep figures
# on one line, fold only titles (over at most two lines) and put long texts below the table.

MIN_TITLE = 16  # narrower than this a title says nothing; rich then wraps the other text columns
MARKS = {"measured": ("m", "measured on this device"), "file": ("f", "from the model's file"),
         "predicted": ("p", "predicted"), "reported": ("r", "reported by the model's description"),
         "measured-other-device": ("o", "measured on other devices")}


def table(*columns, title: str | None = None) -> Table:
    """The CLI's table: a rule under the header, no frame, two spaces between columns."""
    return Table(*columns, title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                 pad_edge=False, collapse_padding=True)


def col(header: str, number: bool = False) -> Column:
    """A column kept on one line (figures, counts, short words); numbers right-aligned."""
    return Column(header, justify="right" if number else "left", no_wrap=True)


def elide(text: str, width: int) -> str:
    """`text` in at most `width` characters with its middle left out: names differ at both ends
    (MobileNet… fp32 / … fp16, Micro_Speech_Yes_No_1 / _2)."""
    if len(text) <= width:
        return text
    tail = (width - 1) // 3
    return text[:width - 1 - tail] + "…" + text[len(text) - tail:] if tail else text[:width - 1] + "…"


# A piece of a title up to where a line may break: after a space, '_', '-' or '/' (model names
# are often one long snake_case word).
_PIECE = re.compile(r".+?(?:[_/-]|\s+|$)")


def fold(text: str, width: int, lines: int = 2) -> str:
    """`text` over at most `lines` lines of `width` characters, broken after spaces, '_', '-' or
    '/' where it can be; what does not fit goes to the last line with its middle elided."""
    rows: list[str] = [""]
    for piece in _PIECE.findall(text.strip()):
        if rows[-1] and len(rows[-1] + piece.rstrip()) > width:
            rows.append("")
        rows[-1] += piece
    if len(rows) > lines:
        rows = rows[:lines - 1] + [elide("".join(rows[lines - 1:]).strip(), width)]
    return "\n".join(elide(row.strip(), width) for row in rows)


def fitted(console: Console, build, titles: list[str], room: int | None = None) -> Table:
    """`build(cells)` makes a table with `titles` as the cells of its title column. The titles get
    `room` characters (folded, see `fold`) or, by default, the width the other columns leave on
    the console (the table at its natural width when it fits)."""
    if room is None:
        natural = console.measure(build(titles), options=console.options.update_width(10_000)).maximum
        room = max(MIN_TITLE, max(map(len, titles), default=0) - (natural - console.width))
    return build([fold(t, room) for t in titles])


def print_list(console: Console, rows, style: str | None = None) -> None:
    """(label, text) rows, each text wrapped under itself beside its label (a hanging indent)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for label, text in rows:
        grid.add_row(Text(label), Text(text))
    console.print(grid, style=style)


def number(value: float) -> str:
    """Three significant digits ('4.35', '222', '3,624'; --json has the figure in full), in
    e-notation from 100,000 (a wild prediction should not widen its column)."""
    if abs(value) >= 1e5:
        return f"{value:.2e}"
    digits = min(4, max(0, 2 - math.floor(math.log10(abs(value))))) if value else 0
    return f"{value:,.{digits}f}"


def marked(text: str, provenance: str | None) -> str:
    """A figure with its provenance marker: '7.4 KiB (f)'; '?' when the figure is unknown."""
    return f"{text} ({MARKS[provenance][0] if provenance in MARKS else '?'})" if text else "?"


def legend(console: Console, provenances) -> None:
    """The meaning of the markers `marked` writes, for these provenances."""
    console.print(", ".join(f"({MARKS[p][0]}) {MARKS[p][1]}" for p in provenances), style="dim", highlight=False)


class Footnotes:
    """The long texts of table rows as footnotes: each distinct set of texts gets a letter ('a',
    'b', ..., 'z', 'aa', ...) that its rows show, and `print` lists them below the table (rows
    share few sets: a registry has many models but few kinds of unknowns)."""

    def __init__(self) -> None:
        self.numbers: dict[tuple[str, ...], int] = {}

    def mark(self, texts) -> str:
        if not texts:
            return ""
        return _letters(self.numbers.setdefault(tuple(texts), len(self.numbers)))

    def print(self, console: Console) -> None:
        print_list(console, [(_letters(n), "; ".join(texts)) for texts, n in self.numbers.items()])


def _letters(i: int) -> str:
    return ("" if i < 26 else _letters(i // 26 - 1)) + string.ascii_lowercase[i % 26]


def print_excluded(console: Console, key: str, rows) -> None:
    """(title, outcome, reasons) rows: what keeps each `key` (model, device) out of the answer (and
    the check's warnings about it); the reasons wrap beside a title column of two fifths of the width."""
    if not rows:
        return

    def build(titles):
        t = table(key, "why not", title=f"{len(rows)} excluded")
        for (_, outcome, reasons), title in zip(rows, titles):
            t.add_row(Text(title), Text(f"{outcome}: " + "; ".join(reasons)))
        return t

    console.print(fitted(console, build, [title for title, _, _ in rows], max(MIN_TITLE, console.width * 2 // 5)))

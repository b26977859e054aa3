"""What every `arachne` command module shares: the consoles, the one-line failure, the store
opener and the option groups. The command modules import this; registry/cli.py assembles them."""
from __future__ import annotations

import os
import sys

import click
from rich.console import Console

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

"""Every example the project shows returns rows, run as a user runs it.

Where each one runs:
- README.md's `arachne` command lines, section by section and in order, through the installed
  `arachne` command in a scratch folder laid out like the project (`kg/` and `../shared/data`
  beside it): the "Using it" block against a copy of the demo registry (`demo-store`, built once
  per session with kg.demo_registry); the "Asking the TinyML paper's graph" block builds its own
  store (`--store ren`) from the paper's graph, as the README says.
- kg/queries/examples/*.rq: on the demo registry (tests/kg/test_ren_kg.py asks the three Ren et al.
  ones of the paper's graph too, with the rows its data implies).
- the explorer's example links (home page and SPARQL page): followed over HTTP on the real server
  serving the demo registry.
"""
from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kg.store import Store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "kg" / "queries" / "examples").glob("*.rq"))
ARACHNE = str(Path(sys.executable).parent / "arachne")

# What each command's output must show, and the count in it that must be above zero.
ANSWERS = {
    "stats": r"(?m)^models +(\d+)",
    "query": r"(\d+) row\(s\)",
    "feasible": r"(\d+) feasible",
    "check": r"(?m)^violation: +\S.+()",  # the README's pair does not fit: each violated constraint is a row
    "recommend": r"(\d+) of \d+ feasible model",
    "predict": r"\b(\d[\d,]*(?:\.\d+)?) \((?:m|p|f)\)",
    "import-td": r"(?m)^imported +(\d+)",
    "export-td": r'"title": "(.+)"',
    "import-model": r"(?:wrote|attached \S+ to) ([1-9]\d* model graph|https://\S+)",  # new models, or a file joined
    "import-benchmarks": r"(\d+) record\(s\)",
    "export": None,  # writes a file: checked below
    "init": r"\((\d+) quads\)",
    "load": r"loaded \d+ file\(s\), (\d+) triples",
    "validate": r"\.ttl: (ok)",
    "train-ranker": r"trained on (\d+) \(task, dataset, device\) group",
    "eval": r"(\w+)_tau_w: -?\d",
}
EXIT = {"check": 2, "import-td": 2}  # README: violations, resp. rejected corpus files, exit 2


def readme_sections() -> dict[str, list[str]]:
    """README's `arachne ...` lines (comments stripped) by the section they appear in."""
    sections: dict[str, list[str]] = {}
    section, in_code = "", False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("```"):
            in_code = not in_code
        elif in_code and line.startswith("arachne "):
            sections.setdefault(section, []).append(re.split(r"\s+#\s", line)[0].strip())
    return sections


SECTIONS = readme_sections()


def subcommand(argv: list[str]) -> str:
    """The arachne subcommand of an argument list (after the group's --store VALUE)."""
    rest = argv[1:]
    while rest and rest[0].startswith("--"):
        rest = rest[2:]
    return rest[0]


@pytest.fixture(scope="session")
def demo_store(demo_dir, tmp_path_factory):
    return Store(shutil.copytree(demo_dir, tmp_path_factory.mktemp("demo-copy") / "store"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_and_ask(argv: list[str], cwd: Path, env: dict) -> str:
    """`arachne serve`: start it, read the home page, stop it. The home page's text."""
    port = free_port()
    argv = [str(port) if a == "8080" else a for a in argv]
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
                    return resp.read().decode("utf-8")
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"`{' '.join(argv)}` did not serve: {proc.communicate()[0]}") from None
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def expand(token: str, cwd: Path) -> list[str]:
    """A shell's glob expansion of one word."""
    return sorted(glob.glob(token, root_dir=cwd)) or [token] if "*" in token else [token]


def run_line(line: str, cwd: Path, env: dict) -> list[str]:
    """Run one README line (`a && b`) as a shell would; the problems found, if any."""
    problems = []
    for part in line.split("&&"):
        argv = [ARACHNE] + [t for a in shlex.split(part)[1:] for t in expand(a, cwd)]
        command = subcommand(argv)
        if command == "serve":
            page = serve_and_ask(argv, cwd, env)
            if not re.search(r'class="n">[1-9][\d,]*</span> models', page):
                problems.append(f"{part.strip()}: the served home page shows no models")
            continue
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        output = proc.stdout + proc.stderr
        if proc.returncode != EXIT.get(command, 0):
            problems.append(f"{part.strip()}: exit {proc.returncode}\n{output[-2000:]}")
            break
        pattern = ANSWERS[command]
        if pattern is None:  # export -o FILE
            written = cwd / argv[argv.index("-o") + 1]
            if not written.is_file() or written.stat().st_size == 0:
                problems.append(f"{part.strip()}: wrote nothing")
            continue
        found = re.search(pattern, output)
        if not found or (found.group(1).isdigit() and int(found.group(1)) == 0):
            problems.append(f"{part.strip()}: no rows in its answer\n{output[-2000:]}")
    return problems


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_readme_commands_return_rows(section, demo_dir, shared, tmp_path):
    # The project's layout in miniature: the examples refer to kg/... and ../shared/data/...
    work = tmp_path / "main"
    work.mkdir()
    (work / "kg").symlink_to(ROOT / "kg")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared)
    shutil.copytree(demo_dir, work / "demo-store")
    env = {k: v for k, v in os.environ.items() if k != "ARACHNE_STORE"}
    env.update(ARACHNE_RANKER=str(tmp_path / "ranker.pt"), ARACHNE_SHARED_DATA=str(shared), COLUMNS="200")
    problems = []
    for line in SECTIONS[section]:
        problems += run_line(line, work, env)
    assert not problems, "\n\n".join(problems)


def test_readme_shows_the_examples():
    """The parser above finds what the README shows (else the test above would prove nothing)."""
    using = next(lines for name, lines in SECTIONS.items() if name.startswith("Using it"))
    commands = {subcommand(shlex.split(part)) for line in using for part in line.split("&&")}
    assert {"query", "feasible", "recommend", "serve", "import-td", "import-model"} <= commands
    assert set(commands) <= set(ANSWERS) | {"serve"}
    assert any("ren" in line for lines in SECTIONS.values() for line in lines)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_queries_return_rows_on_the_demo(path, demo_store):
    rows = demo_store.select(path.read_text(encoding="utf-8"))
    assert len(rows) > 0, f"{path.name} returns no rows on the demo registry"


def test_explorer_example_links_return_rows(demo_store):
    from registry.app import create_app
    from registry.cli_serve import BackgroundServer

    def get(url: str) -> str:
        with urllib.request.urlopen(url, timeout=120) as resp:
            assert resp.status == 200, url
            return resp.read().decode("utf-8")

    with BackgroundServer(create_app(demo_store, {})) as server:
        links = set()
        for page in ("/", "/ui/sparql"):
            links |= set(re.findall(r'href="(/ui/sparql\?example=[^"]+)"', get(server.url + page)))
        assert {link.rsplit("=", 1)[1] for link in links} == {p.stem for p in EXAMPLES}
        for link in sorted(links):
            page = get(server.url + link.replace("&amp;", "&"))
            count = re.search(r"(\d+) row\(s\)", page)
            assert "table class=\"data results\"" in page and count and int(count.group(1)) > 0, link

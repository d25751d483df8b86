"""Imports go one way: the import-linter contracts in pyproject.toml (`detector` imports nothing
from `service`; inside `service` the command line sits on the web API, the jobs worker and the
use cases, which sit on the store; the web API does not import the command line), and no import cycle between any
two modules of `detector` and `service` (function-level imports count: grimp reads them all)."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp  # with import-linter, pinned in the dev extra: a missing one fails here, never skips
import importlinter.cli as importlinter_cli

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Cycles accepted for now (none): any cycle fails.
KNOWN_CYCLES: set[frozenset[str]] = set()


def test_import_contracts_are_kept(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    status = importlinter_cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert status == importlinter_cli.EXIT_STATUS_SUCCESS, out


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iteratively), those of more than one module or a
    module importing itself: each is an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(component)
    return found


def test_strongly_connected_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["e"]]


def test_no_import_cycle_between_modules():
    # imports under `if TYPE_CHECKING:` never run; they name a type for the checker and do not count
    graph = grimp.build_graph("detector", "service", cache_dir=None, exclude_type_checking_imports=True)
    imports = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = [c for c in strongly_connected(imports) if frozenset(c) not in KNOWN_CYCLES]
    details = []
    for c in cycles:
        a, b = sorted(c)[:2]
        chain = graph.find_shortest_chain(importer=a, imported=b) or ()
        back = graph.find_shortest_chain(importer=b, imported=a) or ()
        details.append(f"{sorted(c)}: {' -> '.join(chain)} and back {' -> '.join(back)}")
    assert not cycles, "import cycles:\n" + "\n".join(details)

"""The package's layers, read from its own imports: each package imports only the ones
below it, and no modules import each other in a circle.

Lazy imports inside functions count too: they still tie the lower layer to the higher
one, and a cycle through one works only as long as nobody moves the import to the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import crowdzero

PACKAGE = Path(crowdzero.__file__).parent

#: Rank of each top-level part of the package; an import may only go to a lower rank
#: (or stay inside its own part). Parts of equal rank do not import each other.
LAYERS = {
    "crowdzero": 0,  # the package root: the version, nothing else
    "config_fields": 0,  # how every config section documents and checks its fields
    "go": 0,  # rules, coordinates, features, GTP client
    "play": 1,  # Player protocol, MatchRunner, Game record, SGF
    "search": 2,  # tree search over any Evaluator
    "net": 2,  # the network, checkpoints (satisfies search's Evaluator without importing it)
    "store": 2,  # SQLite game store
    "players": 3,  # crowd members, the agent, engines, the GTP engine
    "train": 4,  # run directory, config, replay, learner, training run
    "analysis": 5,  # ratings, arena, calibration, the study
    "web": 5,  # the web page
    "cli": 6,  # crowdzero <command>
    "__main__": 7,  # python -m crowdzero: runs the CLI
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path) -> Iterator[str]:
    """Every crowdzero module `path` imports, wherever the import statement sits.

    ``from crowdzero.go import _kernels`` counts as importing `crowdzero.go._kernels`
    only, not the package: that is the module whose code it needs.
    """
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("crowdzero"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("crowdzero"):
                continue
            submodules = [f"{node.module}.{a.name}" for a in node.names]
            if all(name in MODULES for name in submodules):
                yield from submodules
            else:
                yield node.module


def part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def test_every_part_of_the_package_has_a_layer() -> None:
    unplaced = sorted({part(m) for m in MODULES} - set(LAYERS))
    assert not unplaced, f"give these a rank in LAYERS: {unplaced}"


def test_no_module_imports_from_a_layer_above_or_beside_its_own() -> None:
    wrong = []
    for module, path in MODULES.items():
        here = part(module)
        for target in imported_modules(path):
            there = part(target)
            if there == here or there == "crowdzero":
                continue
            if LAYERS.get(there, 99) >= LAYERS.get(here, -1):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports that run up or across a layer:\n" + "\n".join(sorted(wrong))


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = {
        module: {t for t in imported_modules(path) if t in MODULES and t != module}
        for module, path in MODULES.items()
    }
    cycles = strongly_connected(graph)
    assert not cycles, f"import cycles: {cycles}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]

"""The floor plan, read from the source: imports only go down, and no module graph has a circle.

Every import statement of every product module counts, wherever it stands (module level, inside
a function, under `if TYPE_CHECKING:`): an import moved into a function still closes a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Higher floors may import lower ones and their own; never the other way. Product packages sit
# under `ffwatt.`; scripts/ and bench/ are the repository's own tools (not in the wheel).
FLOORS: dict[str, int] = {
    "catalog": 0, "contract": 0, "common": 0, "scenarios": 0,
    "readers": 1,
    "exporters": 2, "dashboards_src": 2, "testing": 2,
    "runner": 3, "report": 3, "deploy": 3,
    "cli": 4, "scripts": 4, "bench": 4,
}
# where each floor's package lives
PACKAGE_DIRS = {name: ("ffwatt/" + name if name not in ("scripts", "bench") else name) for name in FLOORS}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _product_modules() -> dict[str, Path]:
    modules = {}
    for package in FLOORS:
        for path in sorted((ROOT / PACKAGE_DIRS[package]).rglob("*.py")):
            modules[_module_name(path)] = path
    return modules


MODULES = _product_modules()


def _imported_names(path: Path, module: str) -> list[tuple[str, int]]:
    """(dotted name, line) of every import in the file: `import a.b` gives a.b; `from a import b`
    gives a.b (which is a module, or a name in a)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            out += [(f"{base}.{alias.name}" if base else alias.name, node.lineno) for alias in node.names]
    return out


def _resolve(name: str) -> str | None:
    """The product module a dotted import name loads: the longest prefix that is a module."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports() -> dict[str, list[tuple[str, str, int]]]:
    """module -> [(imported dotted name, product module it resolves to or '', line)]."""
    graph = {}
    for module, path in MODULES.items():
        graph[module] = [(name, _resolve(name) or "", line) for name, line in _imported_names(path, module)]
    return graph


IMPORTS = _imports()


def _top(name: str) -> str:
    """The floor package of a dotted name: `ffwatt.runner.run` -> runner, `scripts.demo` -> scripts."""
    parts = name.split(".")
    return parts[1] if parts[0] == "ffwatt" and len(parts) > 1 else parts[0]


def _floor(module: str) -> int:
    # A package's __main__ is a command (`python -m runner` is `ffwatt`): run, never imported,
    # so it stands on the top floor with cli whatever package holds it.
    return max(FLOORS.values()) if module.endswith(".__main__") else FLOORS[_top(module)]


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{line}"


def test_every_package_stands_on_a_floor():
    packages = {p.parent.name for p in ROOT.glob("ffwatt/*/__init__.py")}
    packages |= {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "ffwatt"}
    assert packages == set(FLOORS), "place a new package on a floor in FLOORS"


def test_the_wheel_adds_one_name_to_site_packages():
    # Every importable product module sits under ffwatt/: no generic top-level package
    # (`common`, `report`, `runner`...) that would clash with another distribution's.
    top_level = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "scripts", "bench"}
    assert top_level == {"ffwatt"}


def test_no_product_module_imports_the_testing_package():
    # ffwatt.testing (launchers of test servers, simulated hardware) serves the demo, the
    # benchmarks and the tests; the product never depends on it.
    found = [f"{_where(module, line)}: {name}" for module, edges in IMPORTS.items()
             if _top(module) not in ("testing", "scripts", "bench")
             for name, target, line in edges if target and _top(target) == "testing"]
    assert found == []


def test_the_scan_sees_the_tree():
    # The checks below are only as good as the scan: it must find the packages and their imports.
    assert {"ffwatt.cli.main", "ffwatt.runner.run", "ffwatt.report.build", "ffwatt.dashboards_src.queries", "ffwatt.exporters.runtime"} <= set(MODULES)
    assert "ffwatt.report.data" in {target for _, target, _ in IMPORTS["ffwatt.report.build"]}
    # a name imported from a module resolves to that module; a module imported from a package to the module
    assert {target for _, target, _ in IMPORTS["ffwatt.dashboards_src.build"]} >= {"ffwatt.dashboards_src.dashboard",
                                                                             "ffwatt.dashboards_src.qoe_metrics"}


def test_no_import_runs_up_a_floor():
    upward = [f"{_where(module, line)}: {module} (floor {_floor(module)}) imports {target} (floor {_floor(target)})"
              for module, edges in IMPORTS.items() for _, target, line in edges
              if target and _floor(target) > _floor(module)]
    assert upward == []


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules of each circle: every strongly connected component of more than one module
    (Tarjan's algorithm), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_circle_finder_finds_circles():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}}) == [["a", "b", "c"],
                                                                                          ["d", "e"]]
    assert _circles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_module_graph_has_no_circle():
    graph = {module: {target for _, target, _ in edges if target and target != module}
             for module, edges in IMPORTS.items()}
    assert _circles(graph) == []


def test_no_product_file_imports_tests():
    found = [f"{_where(module, line)}: {name}" for module, edges in IMPORTS.items()
             for name, _, line in edges if _top(name) == "tests"]
    assert found == []


def test_the_runner_imports_nothing_from_the_exporters():
    found = [f"{_where(module, line)}: {name}" for module, edges in IMPORTS.items() if _top(module) == "runner"
             for name, _, line in edges if _top(name) == "exporters"]
    assert found == []

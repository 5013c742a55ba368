"""The floor plan, read from the source: imports only go down, and no module graph has a circle.

Every import statement of every product module counts, wherever it stands (module level, inside
a function, under `if TYPE_CHECKING:`): an import moved into a function still closes a circle.
So does an import made at run time with a literal name: `importlib.import_module("x")` and
`__import__("x")`, and, in a module that imports by name at all, every string that names a product
module (`"ffwatt.exporters.cpu:CpuExporter"` in exporters/registry.py's table).

The runner has floors of its own: a scenario's trip goes one way down its pipeline of sub-packages
(`RUNNER_FLOORS`: plan -> meter -> measure -> execute -> record -> run); no runner module imports
one above it.
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
    "energy": 2,  # the energy sources and the attribution rule, on the readers; used by runner and exporters
    "exporters": 3, "dashboards_src": 3, "testing": 3,
    "runner": 4, "report": 4, "deploy": 4,
    "cli": 5, "scripts": 5, "bench": 5,
}
# Inside ffwatt.runner: its base (errors, settings, the package itself), then the pipeline's sub-packages
# in the order a scenario passes them, then the loop.
RUNNER_FLOORS: dict[str, int] = {
    "": 0, "errors": 0, "settings": 0,
    "plan": 1, "meter": 2, "measure": 3, "execute": 4, "record": 5,
    "run": 6,
}
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 80
SMALL_PACKAGES = ("ffwatt/runner", "ffwatt/energy")  # held to the size rules (issue 28)
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
    """(dotted name, line) of every import in the file (`_imports_in`)."""
    return _imports_in(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py",
                       filename=str(path))


_NAMED_IMPORTS = {"import_module", "__import__"}  # importlib.import_module(name), __import__(name)


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _imports_in(source: str, module: str, *, is_package: bool = False, filename: str = "<source>") -> list[tuple[str, int]]:
    """(dotted name, line) of every import in `source`: `import a.b` gives a.b; `from a import b`
    gives a.b (which is a module, or a name in a); `importlib.import_module("a.b")` and
    `__import__("a.b")` give a.b; in a module that makes such calls at all, every string constant
    naming a module (`"a.b"` or `"a.b:Name"`) gives a.b (a table of lazy imports)."""
    tree = ast.parse(source, filename=filename)
    out = []
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and _call_name(node) in _NAMED_IMPORTS]
    for call in calls:
        if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
            out.append((call.args[0].value, call.lineno))
    if calls:
        out += [(node.value.partition(":")[0], node.lineno) for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
                and _resolve(node.value.partition(":")[0]) == node.value.partition(":")[0]]
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
    return list(dict.fromkeys(out))


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


def test_the_scan_sees_imports_made_by_name():
    # a lazy table (exporters/registry.py) is an edge
    assert "ffwatt.exporters.cpu" in {target for _, target, _ in IMPORTS["ffwatt.exporters.registry"]}
    source = ('import importlib\n'
              'def later():\n'
              '    importlib.import_module("ffwatt.runner.run")\n'
              '    return __import__("ffwatt.cli.main")\n')
    assert _imports_in(source, "ffwatt.catalog.x") == [("ffwatt.runner.run", 3), ("ffwatt.cli.main", 4),
                                                       ("importlib", 1)]


def _upward(imports: dict[str, list[tuple[str, str, int]]]) -> list[str]:
    return [f"{module} (floor {_floor(module)}) imports {target} (floor {_floor(target)}) at line {line}"
            for module, edges in imports.items() for _, target, line in edges
            if target and _floor(target) > _floor(module)]


def test_no_import_runs_up_a_floor():
    assert _upward(IMPORTS) == []
    # the check itself: a catalog module that imports the runner by name runs up three floors
    edges = [(name, _resolve(name) or "", line) for name, line in
             _imports_in('import importlib\nimportlib.import_module("ffwatt.runner.run")\n', "ffwatt.catalog.x")]
    assert _upward({"ffwatt.catalog.metrics": edges}) == [
        "ffwatt.catalog.metrics (floor 0) imports ffwatt.runner.run (floor 4) at line 2"]


def test_the_energy_floor_stands_on_the_readers_and_below_runner_and_exporters():
    assert FLOORS["readers"] < FLOORS["energy"] < min(FLOORS["exporters"], FLOORS["runner"])
    assert {"ffwatt.energy.source", "ffwatt.energy.attribution", "ffwatt.readers.proc"} <= set(MODULES)


# --------------------------------------------------------------------------
# the runner's own floors


def _runner_part(module: str) -> str | None:
    """The runner sub-package (or top module) of `module`: `ffwatt.runner.plan.schedule` -> plan; None outside."""
    parts = module.split(".")
    if parts[:2] != ["ffwatt", "runner"]:
        return None
    return parts[2] if len(parts) > 2 else ""


def test_every_runner_module_stands_on_a_runner_floor():
    undeclared = sorted({_runner_part(m) for m in MODULES if _runner_part(m) is not None} - set(RUNNER_FLOORS))
    assert undeclared == [], "place a new runner sub-package on a floor in RUNNER_FLOORS"


def _runner_upward(imports: dict[str, list[tuple[str, str, int]]]) -> list[str]:
    found = []
    for module, edges in imports.items():
        here = _runner_part(module)
        for _, target, line in edges:
            there = _runner_part(target) if target else None
            if here is not None and there is not None and RUNNER_FLOORS[there] > RUNNER_FLOORS[here]:
                found.append(f"{module} ({here or 'runner'}) imports {target} ({there}) at line {line}")
    return found


def test_a_scenarios_trip_goes_one_way_down_the_runner():
    # plan -> meter -> measure -> execute -> record -> run: no runner module imports one above it
    assert _runner_upward(IMPORTS) == []
    # the check itself: the plan reaching up into the record is caught
    edge = ("ffwatt.runner.record.entry", "ffwatt.runner.record.entry", 7)
    assert _runner_upward({"ffwatt.runner.plan.schedule": [edge]}) == [
        "ffwatt.runner.plan.schedule (plan) imports ffwatt.runner.record.entry (record) at line 7"]


def _sizes(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    where = path.relative_to(ROOT)
    found = [f"{where}: {text.count(chr(10))} lines"] if text.count("\n") > MAX_FILE_LINES else []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{where}:{node.lineno}: {node.name} is {length} lines")
    return found


def test_runner_and_energy_files_and_functions_are_small():
    big = [problem for package in SMALL_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
           for problem in _sizes(path)]
    assert big == [], f"files over {MAX_FILE_LINES} lines or functions over {MAX_FUNCTION_LINES}"


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

"""The codebase's architecture habits, checked from the source with `ast` (no tnas_deploy module is imported).

These are habits of tnas_deploy, kept strict so that they do not erode one change at a time:

- No import cycles, lazy imports included. An import inside a function still ties two modules together:
  the cycle only stays hidden until someone moves that import to the top of its file.
- The coding scheme (ttfs, rate, sdnn) is decided in one place, tnas_deploy/schemes/. Code elsewhere asks
  the scheme object and does not compare the scheme's name, so a new scheme does not mean editing every `if`.
- Private names (`_name`) stay in their module. If another module needs one, it has become API: make it
  public (or move the code that needs it next to it).
- Modules stay small (about 500 lines), so that each can be read in one sitting.

Each failing test lists what breaks its rule as file:line with the names involved.
"""
from __future__ import annotations

import ast
import functools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "tnas_deploy"

#: Names of the coding schemes; only tnas_deploy/schemes/ may compare them.
CODING_NAMES = frozenset({"ttfs", "rate", "sdnn"})
#: A name or attribute called like this holds a coding scheme (or its name).
CODING_HOLDERS = frozenset({"coding", "scheme"})
#: The one package where coding names may be compared.
SCHEMES_DIR = PACKAGE_DIR / "schemes"
#: "No module over about 500 lines", with a little slack.
MAX_MODULE_LINES = 550


# --------------------------------------------------------------------------------------------------------
# Reading the package
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Module:
    """One .py file of the package, parsed. A package's `__init__.py` is the package module itself."""

    name: str          # dotted, e.g. "tnas_deploy.rate.refsim"; "tnas_deploy.rate" for rate/__init__.py
    path: Path
    is_package: bool   # the file is an __init__.py
    source: str
    tree: ast.Module
    shown_as: str      # the path printed in messages, e.g. "tnas_deploy/rate/refsim.py"

    def at(self, node: ast.AST) -> str:
        """`file:line` of a node of this module."""
        return f"{self.shown_as}:{node.lineno}"


def load_modules(package_dir: Path) -> dict[str, Module]:
    """Every .py file under `package_dir`, by dotted module name."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir.parent)
        parts = list(relative.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        source = path.read_text(encoding="utf-8")
        name = ".".join(parts)
        modules[name] = Module(name=name, path=path, is_package=is_package, source=source,
                               tree=ast.parse(source, filename=str(relative)), shown_as=relative.as_posix())
    return modules


@functools.lru_cache(maxsize=None)
def package_modules() -> dict[str, Module]:
    """The tnas_deploy package, read once for all tests."""
    return load_modules(PACKAGE_DIR)


# --------------------------------------------------------------------------------------------------------
# Resolving imports
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    """One name imported by one import statement, resolved to a module of the package.

    `import a.b.c as m` -> target "a.b.c", local "m" (a module).
    `from a.b import c` -> target "a.b.c" if that is a module (local "c" is then the module), else "a.b".
    """

    node: ast.Import | ast.ImportFrom
    target: str | None         # the package module the statement loads (an import-graph edge); None if that
                               # module does not exist (a stale import, e.g. halfway through a move)
    from_module: str | None    # `from X import ...`: X, resolved; None for `import ...`
    name: str | None           # `from X import name`: the name taken from X; None for `import ...`
    local: str                 # the name bound in the importing module
    local_module: str | None   # the package module `local` refers to, if it refers to one
    type_checking_only: bool   # inside `if TYPE_CHECKING:` (never runs)


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def iter_import_statements(tree: ast.AST,
                           type_checking: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement anywhere in `tree` (functions and classes included), with whether it sits in an
    `if TYPE_CHECKING:` block. The `else:` of such a block does run, so it is not marked."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, type_checking
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield from iter_import_statements(ast.Module(body=[statement], type_ignores=[]), True)
            for statement in child.orelse:
                yield from iter_import_statements(ast.Module(body=[statement], type_ignores=[]), type_checking)
        else:
            yield from iter_import_statements(child, type_checking)


def from_base(importer: Module, node: ast.ImportFrom) -> str | None:
    """The absolute name of X in `from X import ...`, resolving relative imports against `importer`.

    `.` is the package the importer lives in (for an __init__.py: that package itself); each further dot
    goes up one package. None if the dots climb above the top package.
    """
    if node.level == 0:
        return node.module
    package = importer.name if importer.is_package else importer.name.rpartition(".")[0]
    parts = package.split(".")
    climb = node.level - 1
    if climb >= len(parts):
        return None
    base = ".".join(parts[:len(parts) - climb])
    return f"{base}.{node.module}" if node.module else base


def resolve_imports(importer: Module, modules: Mapping[str, Module]) -> list[Import]:
    """Every name `importer` imports from the package (imports of other packages are left out)."""
    top = importer.name.partition(".")[0]

    def in_package(name: str) -> bool:
        return name == top or name.startswith(top + ".")

    found = []
    for node, type_checking_only in iter_import_statements(importer.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not in_package(alias.name):
                    continue
                target = alias.name if alias.name in modules else None
                if alias.asname:     # `import a.b.c as m`: m is a.b.c
                    local, local_module = alias.asname, target
                else:                # `import a.b.c`: binds `a`
                    local = alias.name.partition(".")[0]
                    local_module = local if local in modules else None
                found.append(Import(node, target, None, None, local, local_module, type_checking_only))
            continue
        base = from_base(importer, node)
        if base is None or not in_package(base):
            continue
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            is_submodule = alias.name != "*" and submodule in modules
            target = submodule if is_submodule else base if base in modules else None
            found.append(Import(node, target, base, alias.name, alias.asname or alias.name,
                                submodule if is_submodule else None, type_checking_only))
    return found


# --------------------------------------------------------------------------------------------------------
# The import graph and its cycles
# --------------------------------------------------------------------------------------------------------

#: (importer, imported) -> where the import statements are ("file:line").
EdgeLocations = dict[tuple[str, str], list[str]]


def import_graph(modules: Mapping[str, Module]) -> tuple[dict[str, set[str]], EdgeLocations]:
    """Which package module imports which: explicit imports only, lazy ones (inside functions) included,
    `if TYPE_CHECKING:` ones left out. Importing `a.b.c` also runs the `__init__` of `a` and `a.b`; those
    implicit edges are not counted. A module naming itself (`from . import x` in the package's own
    __init__) is not an edge."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    locations: EdgeLocations = {}
    for module in modules.values():
        for imp in resolve_imports(module, modules):
            if imp.type_checking_only or imp.target is None or imp.target == module.name:
                continue
            graph[module.name].add(imp.target)
            where = module.at(imp.node)
            spots = locations.setdefault((module.name, imp.target), [])
            if where not in spots:
                spots.append(where)
    return graph, locations


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, written with an explicit stack (no recursion limit): the groups of nodes that all
    reach one another. Every node is in exactly one group; a node on no cycle is a group of its own.

    `index[n]` is the order in which the depth-first search reached n; `low[n]` the smallest index that n's
    search subtree reaches among nodes still on `stack`. When a node finishes with low == index, it and
    everything above it on `stack` form one component.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    path: list[tuple[str, Iterator[str]]] = []   # the current depth-first path, with successors left to try

    def reach(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        path.append((node, iter(sorted(graph.get(node, ())))))

    for root in sorted(graph):
        if root in index:
            continue
        reach(root)
        while path:
            node, successors = path[-1]
            for successor in successors:
                if successor not in index:
                    reach(successor)      # go deeper; come back to `node` later
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:                         # every successor done: `node` is finished
                path.pop()
                if path:
                    parent = path[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components that contain a cycle (more than one node, or a node on itself)."""
    return [component for component in strongly_connected_components(graph)
            if len(component) > 1 or component[0] in set(graph.get(component[0], ()))]


def shortest_cycle(graph: Mapping[str, Iterable[str]], component: list[str]) -> list[str]:
    """One shortest cycle through the component's first node, as [a, b, ..., a] (breadth-first search)."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph.get(node, ())):
            if successor not in members:
                continue
            if successor == start:
                cycle = [node]
                while cycle[-1] != start:
                    cycle.append(came_from[cycle[-1]])
                return [*reversed(cycle), start]
            if successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    return [start]


def test_cycle_finder_on_small_graphs():
    """The SCC helper itself: a known cycle, a self-loop and a DAG."""
    with_cycle = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["a"]}
    assert find_cycles(with_cycle) == [["a", "b", "c"]]
    assert sorted(strongly_connected_components(with_cycle)) == [["a", "b", "c"], ["d"], ["e"]]
    assert shortest_cycle(with_cycle, ["a", "b", "c"]) == ["a", "b", "c", "a"]

    two_cycles = {"a": ["b"], "b": ["a", "c"], "c": ["d"], "d": ["c"], "x": ["x"]}
    assert sorted(find_cycles(two_cycles)) == [["a", "b"], ["c", "d"], ["x"]]

    diamond = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}
    assert find_cycles(diamond) == []
    assert sorted(strongly_connected_components(diamond)) == [["a"], ["b"], ["c"], ["d"]]

    long_chain = {f"n{i}": [f"n{i + 1}"] for i in range(5000)}   # deeper than Python's recursion limit
    long_chain["n5000"] = ["n0"]
    assert len(find_cycles(long_chain)) == 1 and len(find_cycles(long_chain)[0]) == 5001


def test_import_resolution_on_a_small_package(tmp_path):
    """The resolver itself, on a throwaway package: relative imports, `from . import` of a submodule versus a
    name from __init__, lazy imports counted, TYPE_CHECKING imports left out, a stale import (a module that
    no longer exists) no edge; and the private-name finder on the same package."""
    files = {
        "pkg/__init__.py": "from .sub import helper\nVERSION = 1\n",
        "pkg/top.py": "from . import VERSION\nfrom . import sub\n",
        "pkg/sub/__init__.py": "def helper():\n    from ..top import VERSION\n",
        "pkg/sub/leaf.py": ("from typing import TYPE_CHECKING\nimport numpy\nfrom .. import top as t\n"
                            "from ..sub import helper\nimport pkg.top\nif TYPE_CHECKING:\n    from pkg import sub\n"
                            "else:\n    from . import other\n"),
        "pkg/sub/other.py": ("from ..gone import thing\nfrom ..top import _hidden, __doc__\n"
                             "import pkg.top as t\nt._more\n"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = load_modules(tmp_path / "pkg")
    assert sorted(modules) == ["pkg", "pkg.sub", "pkg.sub.leaf", "pkg.sub.other", "pkg.top"]
    graph, locations = import_graph(modules)
    assert graph == {"pkg": {"pkg.sub"}, "pkg.top": {"pkg", "pkg.sub"}, "pkg.sub": {"pkg.top"},
                     "pkg.sub.leaf": {"pkg.top", "pkg.sub", "pkg.sub.other"}, "pkg.sub.other": {"pkg.top"}}
    assert locations[("pkg.sub", "pkg.top")] == ["pkg/sub/__init__.py:2"]
    assert locations[("pkg.sub.leaf", "pkg.top")] == ["pkg/sub/leaf.py:3", "pkg/sub/leaf.py:5"]
    assert find_cycles(graph) == [["pkg", "pkg.sub", "pkg.top"]]
    bound = {imp.local: imp.local_module for imp in resolve_imports(modules["pkg.sub.leaf"], modules)}
    assert bound == {"t": "pkg.top", "helper": None, "pkg": "pkg", "sub": "pkg.sub", "other": "pkg.sub.other"}
    assert [text for _, text in private_uses(modules["pkg.sub.other"], modules)] == [
        "from pkg.top import _hidden", "t._more (pkg.top)"]


def test_no_import_cycles():
    modules = package_modules()
    graph, locations = import_graph(modules)
    problems = []
    for component in find_cycles(graph):
        problems.append(f"cycle among {len(component)} modules, e.g. "
                        + " -> ".join(shortest_cycle(graph, component)))
        members = set(component)
        for importer in component:
            for imported in sorted(graph[importer] & members):
                places = ", ".join(locations[(importer, imported)])
                problems.append(f"    {importer} -> {imported}  ({places})")
    if problems:
        pytest.fail("import cycles (lazy imports count; break them by moving the shared code down a layer):\n"
                    + "\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------------------
# Coding scheme names
# --------------------------------------------------------------------------------------------------------

_EQUALITY_TESTS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)


def _is_coding_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in CODING_NAMES


def _names_a_coding(node: ast.expr) -> bool:
    """A coding name ("rate"), a collection literal holding one, or something called `coding` / `scheme`."""
    if _is_coding_name(node):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_coding_name(element) for element in node.elts)
    if isinstance(node, ast.Name):
        return node.id in CODING_HOLDERS
    if isinstance(node, ast.Attribute):
        return node.attr in CODING_HOLDERS
    return False


def coding_comparisons(module: Module) -> Iterator[tuple[ast.AST, str]]:
    """Comparisons and `match` statements in `module` that decide on a coding scheme's name."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(op, _EQUALITY_TESTS) for op in node.ops) and any(map(_names_a_coding, operands)):
                yield node, ast.get_source_segment(module.source, node) or ast.unparse(node)
        elif isinstance(node, ast.Match):
            patterns = [p for case in node.cases for p in ast.walk(case.pattern)]
            if _names_a_coding(node.subject) or any(
                    isinstance(p, ast.MatchValue) and _is_coding_name(p.value) for p in patterns):
                yield node, "match " + (ast.get_source_segment(module.source, node.subject)
                                        or ast.unparse(node.subject))


def test_coding_names_are_compared_only_in_schemes():
    problems = [f"{module.at(node)}: {text}"
                for module in package_modules().values() if not module.path.is_relative_to(SCHEMES_DIR)
                for node, text in sorted(coding_comparisons(module), key=lambda found: found[0].lineno)]
    if problems:
        pytest.fail(f"{len(problems)} comparisons of a coding scheme's name outside tnas_deploy/schemes/ "
                    "(ask the scheme object instead):\n  " + "\n  ".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------------------
# Private names
# --------------------------------------------------------------------------------------------------------

def _is_private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_referred_to(expr: ast.expr, bound: Mapping[str, str], modules: Mapping[str, Module]) -> str | None:
    """The package module `expr` names: a name bound to one by an import, or a submodule attribute of it."""
    if isinstance(expr, ast.Name):
        return bound.get(expr.id)
    if isinstance(expr, ast.Attribute):
        parent = _module_referred_to(expr.value, bound, modules)
        if parent and f"{parent}.{expr.attr}" in modules:
            return f"{parent}.{expr.attr}"
    return None


def private_uses(module: Module, modules: Mapping[str, Module]) -> Iterator[tuple[ast.AST, str]]:
    """Private names `module` takes from other package modules: `from X import _name` and `x._name` where
    x was imported as a package module. (Names are bound per file, not per scope: a local variable that
    shadows an imported module name would be taken for the module.)"""
    imports = resolve_imports(module, modules)
    for imp in imports:
        if imp.from_module is not None and _is_private(imp.name) and imp.from_module != module.name:
            yield imp.node, f"from {imp.from_module} import {imp.name}"
    bound = {imp.local: imp.local_module for imp in imports if imp.local_module}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = _module_referred_to(node.value, bound, modules)
            if owner is not None and owner != module.name:
                yield node, f"{ast.get_source_segment(module.source, node) or ast.unparse(node)} ({owner})"


def test_no_private_names_cross_modules():
    modules = package_modules()
    problems = [f"{module.at(node)}: {text}" for module in modules.values()
                for node, text in sorted(private_uses(module, modules), key=lambda found: found[0].lineno)]
    if problems:
        pytest.fail("private names used outside their module (make them public, or move the code that needs "
                    "them):\n  " + "\n  ".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------------------
# Module size
# --------------------------------------------------------------------------------------------------------

def test_modules_are_small():
    too_long = sorted(((len(module.source.splitlines()), module.shown_as) for module in package_modules().values()),
                      reverse=True)
    problems = [f"{shown_as}: {lines} lines" for lines, shown_as in too_long if lines > MAX_MODULE_LINES]
    if problems:
        pytest.fail(f"modules over {MAX_MODULE_LINES} lines (the habit: none over about 500; split by "
                    "responsibility):\n  " + "\n  ".join(problems), pytrace=False)

"""The package's shape, counted from its own imports (every import, at module level or inside a function): no file
imports itself back through others (no circles), and no file is over 450 lines. A package's `__init__` and its own
submodules are one room (the registry pattern: the submodules register into the package's registry, which imports
them), so imports between them are not counted."""
import ast
from pathlib import Path

import workbench

PKG = Path(workbench.__file__).parent
MAX_LINES = 450


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _same_room(a: str, b: str, files: dict) -> bool:
    """a package and one of its direct submodules (either way round)"""
    pa, pb = a.rpartition(".")[0], b.rpartition(".")[0]
    return (files[a].name == "__init__.py" and pb == a) or (files[b].name == "__init__.py" and pa == b)


def import_graph() -> dict[str, set[str]]:
    """{module: the workbench modules it imports} (a name imported from a package counts as its submodule when one
    exists, else as the package)."""
    files = {_module(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    out.add(sub if sub in files else target)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        graph[mod] = {t for t in out if t in files and t != mod and not _same_room(mod, t, files)}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_imports_it_should():
    g = import_graph()
    assert "workbench.zoo" in g["workbench.recipes"] and "workbench.io" in g["workbench.nets.text"]
    assert "workbench.generators.baselines" in g["workbench.evaluate"]          # a function-level import counts


def test_no_module_imports_itself_back_through_others():
    assert circles(import_graph()) == []


def test_a_made_up_circle_is_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_file_is_over_450_lines():
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}

"""Imports point one way: the estimators and methods libraries import nothing from the harness, the
harness's layers import downward only, no paper imports another, and no module imports itself back through
a cycle. The contracts live in pyproject.toml ([tool.importlinter]); import-linter checks them here so a
violation fails CI."""
import sys

import pytest

from conftest import REPO


def test_import_contracts_hold(monkeypatch, capsys):
    from importlinter.cli import lint_imports

    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(str(REPO))
    code = lint_imports(config_filename=str(REPO / "pyproject.toml"))
    out = capsys.readouterr().out
    assert code == 0, out[-4000:]
    assert "5 kept, 0 broken" in out, out[-2000:]


def _cycles(edges: dict) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles(monkeypatch):
    import grimp

    monkeypatch.syspath_prepend(str(REPO))
    graph = grimp.build_graph("benchmarks", "methods", "estimators")
    modules = set(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in sorted(modules)}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(modules)))
    try:
        assert _cycles(edges) == []
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.parametrize("library", ["estimators", "methods"])
def test_libraries_import_without_the_harness(library):
    """A researcher's code can import the library with the harness package absent."""
    import subprocess

    code = (f"import sys; sys.modules['benchmarks'] = None; import {library}; "
            f"print(sorted(m for m in sys.modules if m.startswith('benchmarks')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "['benchmarks']"

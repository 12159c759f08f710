"""The house's layering, read from the source (no imports run): imports point down, and no module cycles.

pipelines -> transforms -> schemas; train -> schemas (never Beam); nothing outside `pipelines.cli`
imports `pipelines.cli`, whose only way into `train` is handing `longlm train` to `train.cli`. Every import counts, function-local ones included: a lazy import still
ties two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "transforms", "schemas", "train", "bench")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ours that `name` imports; `from a.b import c` names a.b.c when that is a module."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t.split(".")[0] in PACKAGES or t.startswith("apache_beam"))
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_real_imports():
    graph = _graph()
    assert "pipelines.build.stages" in graph["pipelines.build.run"]
    assert "transforms.rejects" in graph["transforms.dead_letters"]


def test_no_import_cycles():
    cycles = [sorted(c) for c in _cycles(_graph())]
    assert cycles == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_nothing_imports_the_cli():
    graph = _graph()
    offenders = sorted(f"{m} -> {t}" for m, targets in graph.items() if not m.startswith("pipelines.cli")
                       for t in targets if t == "pipelines.cli" or t.startswith("pipelines.cli."))
    assert offenders == []


def test_imports_point_down():
    graph = _graph()
    rules = {
        "transforms": ("pipelines", "train", "bench"),
        "schemas": ("pipelines", "transforms", "train", "bench"),
        "train": ("pipelines", "transforms", "bench", "apache_beam"),
        "pipelines": ("train", "bench"),
    }
    offenders = sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                       if t.split(".")[0] in rules.get(m.split(".")[0], ())
                       and not (m == "pipelines.cli" and t == "train.cli"))  # `longlm train` hands over its argv
    assert offenders == []


def test_pipelines_has_at_most_eight_top_level_modules():
    top = [p.name for p in (ROOT / "pipelines").iterdir() if p.name != "__pycache__"
           and (p.suffix == ".py" or (p / "__init__.py").is_file())]
    assert len(top) <= 8, sorted(top)

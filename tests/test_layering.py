"""The package's layers, read from its source: every import (module level or inside a function) points down
or sideways, never up, and no chain of imports comes back to where it started.

Layers, lowest first, in ``LAYERS`` (timm's split: registry, then builder, then hub; use cases, then the
interfaces other code calls: the CLI, the package's top level and the timm / RobustBench integrations).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dkl_zoo"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "errors",
            "_compat",
            "_atomic",
            "_integrity",
            "_devices",
            "_deadline",
            "losses",
            "_inputs",
            "settings",
            "_choices",
            "_arguments",
            "_terminal",
            "_figure_files",
            "_forward_deadline",
            "_interrupts",
            "_module_changes",
            "_weights_watch",
        ),
    ),
    (
        "metadata",
        (
            "registry._constants",
            "registry._types",
            "registry._sources",
            "registry._architectures",
            "registry._released",
            "registry._shipped",
            "registry._metrics",
            "registry",
            "_pins",
            "data",
            "maintainers",
            "maintainers.cards",
            "categories",
            "_images",
            "transforms",
            "examples",
        ),
    ),
    ("models", ("models", "models._builder", "models._pretrained", "models.wide_resnet", "models.dm_wide_resnet")),
    (
        "io",
        (
            "_hub_errors",
            "maintainers.metrics",
            "_hub",
            "original.drive",
            "original.cache",
            "original.trust",
            "original.convert",
            "original",
            "maintainers.publish",
            "_autoattack",
        ),
    ),
    (
        "use cases",
        (
            "loading",
            "evaluation.result",
            "evaluation.sharding",
            "evaluation.state",
            "evaluation.runner",
            "evaluation.arguments",
            "evaluation.protocol",
            "evaluation.leaderboard",
            "evaluation.curve",
            "evaluation",
            "_resolve",
            "_classes",
            "maintainers.release",
            "prediction",
            "_onnx_cache",
            "_model_fit",
            "adversarial",
            "figure",
            "exporting",
            "verification.reference",
            "verification.statistics",
            "verification.result",
            "verification.checks",
            "verification.exported",
            "verification.making",
            "verification.locating",
            "verification.diagnosis",
            "verification.verifying",
            "verification",
        ),
    ),
    ("applications", ("demo.handlers", "demo.uploads", "demo")),
    (
        "interfaces",
        (
            "",
            "__main__",
            "convert",
            "release",
            "publish",
            "cards",
            "prediction_output",
            "cli._prediction_output",
            "cli._common",
            "cli.catalogue",
            "cli.download",
            "cli.evaluate",
            "cli.predict",
            "cli.attack",
            "cli.export",
            "cli.demo",
            "cli.forget",
            "cli.maintainers",
            "cli.maintainers.convert",
            "cli.maintainers.publish",
            "cli.maintainers.release",
            "cli.maintainers.cards",
            "cli.maintainers.reference",
            "cli.verify",
            "cli",
            "integrations",
            "integrations.timm",
            "integrations.robustbench",
        ),
    ),
)
LAYER_OF = {module: rank for rank, (_, modules) in enumerate(LAYERS) for module in modules}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports anywhere in its source (relative or absolute)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "dkl_zoo" or node.module.startswith("dkl_zoo.")):
                target = node.module.removeprefix("dkl_zoo").lstrip(".")
            else:
                continue
            for alias in node.names:
                child = f"{target}.{alias.name}" if target else alias.name
                found.add(child if child in known else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "dkl_zoo" or alias.name.startswith("dkl_zoo."):
                    found.add(alias.name.removeprefix("dkl_zoo").lstrip("."))
    found.discard(name)
    return {module for module in found if module in known}


def import_graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {name: _imports(name, path, known) for name, path in sources.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_module_has_a_layer():
    unplaced = sorted(set(_sources()) - set(LAYER_OF))
    assert not unplaced, f"put these modules in a layer of LAYERS: {unplaced}"


def test_no_import_points_up():
    graph = import_graph()
    upward = [
        f"{name or 'dkl_zoo'} ({LAYERS[LAYER_OF[name]][0]}) imports {dep or 'dkl_zoo'} ({LAYERS[LAYER_OF[dep]][0]})"
        for name, deps in graph.items()
        for dep in deps
        if name in LAYER_OF and dep in LAYER_OF and LAYER_OF[dep] > LAYER_OF[name]
    ]
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(m or "dkl_zoo" for m in cycle)


def test_the_graph_reader_sees_function_level_imports_and_cycles():
    """The checks above can fail: a planted back-edge inside a function is found, and makes a cycle."""
    graph = import_graph()
    assert "registry" in graph["models._builder"]  # a module-level relative import two packages deep
    assert "loading" in graph["integrations.timm"]  # an import inside a function body
    planted = {name: set(deps) for name, deps in graph.items()}
    planted["registry"].add("loading")
    assert _cycle(planted) is not None

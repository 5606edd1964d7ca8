"""The structure of the package, kept by tests (docs/architecture.md): which layer may import
which, no import cycle between modules, the public API, and the size of modules.

Imports are read from the source with ``ast``: every import counts, at module level, inside
functions and under ``TYPE_CHECKING`` alike, because each is a dependency a reader must follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import coview

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "coview"

# What each layer may import (besides itself). The arrows not listed must never exist.
ALLOWED: dict[str, set[str]] = {
    "_version": set(),
    "ids": set(),
    "errors": set(),
    "protocol": {"_version", "errors", "ids"},
    "domain": {"protocol", "errors", "ids"},
    "bus": {"protocol", "errors", "ids"},
    "storage": {"domain", "protocol", "errors", "ids"},
    "client": {"protocol", "errors", "ids", "_version"},
    "server": {"_version", "bus", "domain", "errors", "ids", "protocol", "storage", "web"},
    "cli": {"_version", "bus", "client", "domain", "errors", "ids", "protocol", "server",
            "storage"},
    "web": set(),
    "__main__": {"cli"},
    "": {"_version", "errors", "client", "protocol"},  # coview/__init__.py: public names
}

# No module over this many lines (issue 15 split the last ones).
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            submodules = {f"{module}.{alias.name}" for alias in node.names} & known.keys()
            # ``from package import module`` depends on the module, not on the package
            found.update(submodules or {module})
    resolved = set()
    for module in found:
        while module not in known and "." in module:
            module = module.rpartition(".")[0]
        if module in known and module != name:
            resolved.add(module)
    return resolved


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_layer_imports_what_it_must_not() -> None:
    """protocol and domain do no I/O and know no transport; clients know only the protocol;
    storage knows the domain, not the server; the server never imports a client."""
    forbidden = sorted(
        f"{module} -> {imported}"
        for module, imported_modules in graph().items()
        for imported in imported_modules
        if layer(imported) != layer(module) and layer(imported) not in ALLOWED[layer(module)]
    )
    assert forbidden == []


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_checks_catch_what_they_look_for() -> None:
    """The cycle finder and the import reader work (a test of the tests)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    edges = graph()
    assert "coview.protocol.rules" in edges["coview.protocol.handshake"]
    assert "coview.server.hub" in edges["coview.server.ws"]
    assert "coview.client.visitor" in edges["coview"]  # under TYPE_CHECKING, counted too


def test_public_api() -> None:
    """What ``import coview`` offers, each name reachable."""
    assert sorted(coview.__all__) == sorted([
        "RANDOM_KEY", "Agent", "AgentSession", "CoviewError", "DisplayParams", "Event",
        "EventCode", "EventType", "JoinRefused", "OneClickFailed", "PresenceVisitor",
        "Refused", "SessionEndReason", "SessionInfo", "StartParams", "Visitor", "__version__",
    ])
    for name in coview.__all__:
        assert getattr(coview, name) is not None
    assert (PACKAGE / "py.typed").is_file()


def test_modules_stay_small() -> None:
    """No module over 400 lines: one that grows past it is split by concern."""
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}

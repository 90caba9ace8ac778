"""The house: subpackages in layers, imports flowing one way, each outside library behind its
module, no module or class too long to read. Measured from the package's own source with ast."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "stylemotion"

# Lower layers never import higher ones; packages on one layer do not import each other.
LAYERS = {
    "errors": 0,
    "io": 1, "runtime": 1,
    "engine": 2, "music": 2,
    "settings": 3,
    "animation": 4, "stills": 4,
    "video": 5,
    "study": 6, "finish": 6,
    "cli": 7, "__main__": 8,
}
# outside libraries and the modules allowed to import them
OUTSIDE = {
    "av": {"io.encode", "io.decode", "io.sound"},
    "PIL": {"io.images"},
    "cv2": {"video.flow"},
    "librosa": {"music.audio"},
    "ray": {"runtime.executors"},
}
LEAVES = {"engine.config", "finish.config", "settings.schedule", "settings.playlist", "settings.choices"}  # configs: nothing of the package but errors


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(PKG).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(module of the package, line) for every import in ``path``, lazy ones included."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[:len(here) - node.level + 1] if node.level > 1 else here
            target = [*base, *(node.module.split(".") if node.module else [])]
            if node.module is None:  # from . import a, b: modules
                found += [(".".join([*target, a.name]), node.lineno) for a in node.names]
            else:
                found.append((".".join(target), node.lineno))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stylemotion."):
            found.append((node.module.removeprefix("stylemotion."), node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name.removeprefix("stylemotion."), node.lineno) for a in node.names if a.name.startswith("stylemotion.")]
    mods = modules()
    return [(t if t in mods else t.rpartition(".")[0], line) for t, line in found if t]


def outside_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def top(name: str) -> str:
    return name.split(".")[0] if name else ""


def test_every_subpackage_has_a_layer():
    assert {top(m) for m in modules() if m} <= set(LAYERS), {top(m) for m in modules() if m} - set(LAYERS)


def test_imports_flow_down_the_layers():
    bad = []
    for name, path in modules().items():
        if not name:
            continue
        for target, line in imports(name, path):
            a, b = top(name), top(target)
            if target == "" or a == b:
                continue  # the package's face (__version__), or within one subpackage
            if LAYERS[b] >= LAYERS[a]:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} ({a}, layer {LAYERS[a]}) imports {target} (layer {LAYERS[b]})")
    assert not bad, "\n".join(bad)


def test_no_import_circles():
    graph = defaultdict(set)
    for name, path in modules().items():
        for target, _ in imports(name, path):
            if target and target != name:
                graph[name].add(target)
    state: dict[str, int] = {}
    cycles = []

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycles.append(" -> ".join(stack[stack.index(m):] + [m]) if m in stack else f"{n} -> {m}")
            elif m not in state:
                visit(m, [*stack, m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert not cycles, cycles


def test_outside_libraries_live_behind_their_modules():
    bad = []
    for name, path in modules().items():
        for lib in outside_imports(path) & set(OUTSIDE):
            if name not in OUTSIDE[lib]:
                bad.append(f"{name} imports {lib} (only {sorted(OUTSIDE[lib])} may)")
    assert not bad, bad


def test_configs_are_leaves():
    for name in LEAVES:
        got = {t for t, _ in imports(name, modules()[name])}
        assert got <= {"errors"}, (name, got)


def test_one_place_sets_the_thread_count():
    setters = [n for n, p in modules().items() if "set_num_threads" in p.read_text()]
    assert setters == ["runtime.threads"], setters


def test_modules_and_classes_stay_readable():
    long_modules = {n: len(p.read_text().splitlines()) for n, p in modules().items() if len(p.read_text().splitlines()) > 450}
    assert not long_modules, long_modules
    long_classes = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 150:
                long_classes.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long_classes, long_classes


def test_the_readme_stays_a_users_page():
    lines = (PKG.parent / "README.md").read_text().splitlines()
    assert len(lines) < 250, f"README.md has {len(lines)} lines: measurements and stories go to docs/"

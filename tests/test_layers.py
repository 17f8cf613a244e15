"""The package's floors: a module imports only from its own floor or the floors below it."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "minsheng"
# core → model → store → assist / training → api / serving → cli (settings is read by every floor)
FLOORS = {"settings": 0, "core": 1, "model": 2, "store": 3, "assist": 4, "training": 4, "api": 5, "serving": 5,
          "cli": 6}


def floor_of(module: str) -> int | None:
    parts = module.split(".")
    return FLOORS.get(parts[1]) if parts[0] == "minsheng" and len(parts) > 1 else None


def imports(path: Path, root: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved against its package)."""
    package = path.relative_to(root).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            found.add(".".join(p for p in (base, node.module) if p))
    return found


def upward_imports(package: Path) -> list[str]:
    found = []
    for path in package.rglob("*.py"):
        here = floor_of(".".join(path.relative_to(package.parent).with_suffix("").parts))
        for module in imports(path, package.parent):
            there = floor_of(module)
            if here is not None and there is not None and there > here:
                found.append(f"{path.relative_to(package.parent)} imports {module}")
    return found


def test_every_top_level_module_has_a_floor():
    top = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" and p.stem != "__init__"}
    top |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert top == set(FLOORS)


def test_imports_only_go_down():
    assert upward_imports(PACKAGE) == []


def test_an_upward_import_is_found(tmp_path):
    core = tmp_path / "minsheng" / "core"
    core.mkdir(parents=True)
    (core / "bad.py").write_text("from minsheng.serving.service import Minsheng\nfrom ..store import models\n"
                                 "from .text import normalize\n")
    assert sorted(upward_imports(tmp_path / "minsheng")) == [
        "minsheng/core/bad.py imports minsheng.serving.service", "minsheng/core/bad.py imports minsheng.store"]

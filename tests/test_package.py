"""Package-level promises: version, public names, and the layering of DESIGN.md."""

from __future__ import annotations

import ast
from pathlib import Path

import tsssm

PACKAGE = Path(tsssm.__file__).parent


def test_version_is_exposed() -> None:
    assert tsssm.__version__.count(".") == 2


def test_public_names() -> None:
    for name in tsssm.__all__:
        if name != "__version__":
            assert callable(getattr(tsssm, name)), name
    assert sorted(tsssm.__all__) == dir(tsssm)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            prefix = "." * node.level
            found.add(prefix + (node.module or ""))
    return found


def test_kernels_import_nothing_else_of_tsssm() -> None:
    for path in (PACKAGE / "kernels").rglob("*.py"):
        # A module n folders below tsssm/ (kernels/x.py: 1) stays inside kernels/ with at most
        # n leading dots in a relative import.
        depth = len(path.relative_to(PACKAGE).parts) - 1
        for module in imported_modules(path):
            assert not module.startswith("tsssm"), f"{path} imports {module}"
            dots = len(module) - len(module.lstrip("."))
            assert dots <= depth, f"{path} reaches above kernels with {module}"


def test_no_top_level_packages_that_shadow_pypi_names() -> None:
    root = PACKAGE.parent
    for folder in ("datasets", "kernels", "recipes", "app"):
        assert not (root / folder / "__init__.py").exists(), folder

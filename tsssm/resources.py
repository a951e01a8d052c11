"""Where the files that are not code live: the recipes, the bundled data sets and the kernel
benchmark.

In a source checkout they are the top-level ``recipes/``, ``datasets/`` and ``benchmarks/``
folders beside ``tsssm/``. A wheel (``pip install .``) carries copies of them inside the
package, under ``tsssm/_data/`` (``setup.py`` copies them there when it builds), so an
installed tsssm finds them wherever it is put. The copy inside the package wins when both
exist; this module imports nothing but the standard library.

    recipe_path("etth1_smamba")      # the shipped recipes/etth1_smamba.toml
    resource_dir("datasets")         # the bundled data sets
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RESOURCES", "list_recipes", "recipe_path", "resource_dir"]

RESOURCES = ("recipes", "datasets", "benchmarks")  # what a wheel carries under tsssm/_data/
PACKAGED = Path(__file__).resolve().parent / "_data"
CHECKOUT = Path(__file__).resolve().parents[1]  # the source checkout, when this is one


def resource_dir(name: str) -> Path:
    """``tsssm/_data/<name>`` of an installed wheel, else ``<name>/`` of the source checkout
    (returned even when missing: callers say what is absent).

    Raises:
        KeyError: ``name`` is not one of :data:`RESOURCES`.
    """
    if name not in RESOURCES:
        raise KeyError(f"unknown resource folder {name!r}; choose one of {list(RESOURCES)}")
    packaged = PACKAGED / name
    return packaged if packaged.is_dir() else CHECKOUT / name


def list_recipes() -> list[str]:
    """The names of the shipped recipes (``etth1_smamba``, ...), sorted."""
    return sorted(path.stem for path in resource_dir("recipes").glob("*.toml"))


def recipe_path(recipe: str | Path) -> Path:
    """The recipe file ``recipe``: an existing path as it is, else the shipped recipe of that
    name (``"etth1_smamba"``, ``"etth1_smamba.toml"`` or ``"recipes/etth1_smamba.toml"``, so
    that the README's commands work outside a checkout too); any other path is returned
    unchanged (reading it then says what is wrong).

    Raises:
        FileNotFoundError: a bare name (no folder, no ``.toml``) that no shipped recipe has;
            the message lists them.
    """
    path = Path(recipe).expanduser()
    if path.is_file():
        return path
    shipped = resource_dir("recipes") / f"{path.name.removesuffix('.toml')}.toml"
    if path.parent in (Path("."), Path("recipes")) and shipped.is_file():
        return shipped
    if path.parent == Path(".") and not path.suffix:
        raise FileNotFoundError(f"no shipped recipe {recipe!r} (and no such file); shipped "
                                f"recipes: {', '.join(list_recipes()) or 'none found'}")
    return path

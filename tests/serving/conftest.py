"""The recipe tests' tiny series, for the runs these tests train."""

from ..recipes.conftest import tiny_csv  # noqa: F401 (a fixture)

"""The README's Python: the blocks marked ``<!-- readme-test -->`` (the inputs of its examples,
built from the bundled data, and the selective scan) run as written, in order, in one
namespace; every other block uses only names those blocks define (or defines itself), so a
reader can copy and paste each example after the lines that build its inputs.

The estimator blocks themselves are not run here (training at the README's sizes takes
minutes); tests/estimators runs the same calls on small data.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- readme-test -->"
BLOCK = re.compile(r"(?P<marker><!-- readme-test -->\n)?```python\n(?P<code>.*?)```", re.S)


def blocks() -> list[tuple[bool, str, int]]:
    """(marked, code, line) of every Python block of the README, in order."""
    text = README.read_text()
    return [(bool(m["marker"]), m["code"], text[:m.start("code")].count("\n") + 1)
            for m in BLOCK.finditer(text)]


def free_names(code: str) -> set[str]:
    """Names ``code`` reads that it neither assigns, imports nor defines."""
    tree = ast.parse(code)
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return read - bound - set(dir(builtins))


@pytest.mark.slow
def test_readme_inputs_run_and_every_example_has_its_inputs() -> None:
    namespace: dict = {}
    found = blocks()
    assert sum(marked for marked, _, _ in found) >= 5
    for marked, code, line in found:
        if marked:
            exec(compile(code, f"README.md:{line}", "exec"), namespace)
        else:
            missing = free_names(code) - set(namespace)
            assert not missing, f"README.md:{line}: the block uses {sorted(missing)}, which " \
                                "no block marked readme-test before it builds"


def test_the_inputs_are_what_the_examples_expect() -> None:
    namespace: dict = {}
    for marked, code, line in blocks()[:1]:
        assert marked, "the first Python block builds the forecasting inputs"
        exec(compile(code, f"README.md:{line}", "exec"), namespace)
    assert namespace["train_frame"].height == 2_000
    assert namespace["recent_frame"].height == 96
    assert namespace["train_frame"]["date"].dtype.is_temporal()

"""``Task``: everything tsssm knows about one task, declared in the task's own module and
registered in :data:`tsssm.tasks.TASKS` (read by the recipes, the CLI, the app and the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tsssm.recipes._schema import Context
    from tsssm.recipes.base import Recipe


@dataclass(frozen=True)
class Task:
    """One task.

    Attributes:
        name: the recipe's ``run.task``.
        model_task: the registry task of its models (``tsssm.models.list_models(model_task)``):
            ``forecasting``, ``classification``, ``pretraining``, ``reconstruction`` or
            ``phase``.
        summary: one line for ``tsssm --help`` and the docs.
        data_config: the dataclass of the recipe's ``[data]`` table; it has a ``dataset``
            field (a bundled name or a path, relative to the recipe file).
        validate: checks of a built ``[data]`` table (raise ``ctx.error``); may fill fields
            that follow from others.
        derived: model options the recipe sets from the data (never from the recipe file).
        bundled: the names ``dataset`` may take without being a path (called when needed:
            some lists come from installed packages).
        path_kind: what a ``dataset`` path must be: ``"file"`` or ``"dir"``.
        recipe: the :class:`~tsssm.recipes.base.Recipe` subclass that runs the task.
        prediction_columns: the columns every ``predictions.parquet`` of the task has, in
            order, starting with ``model`` (empty: the task writes no predictions).
        headline_metrics: the test metrics (keys of metrics.json's ``test``) that sum a run
            up in ``tsssm runs``, ``tsssm show`` and the app.
        validation_metrics: what its LightningModules log on the validation split once per
            epoch (``val_loss`` first): the objectives ``tsssm tune`` may search on.
    """

    name: str
    model_task: str
    summary: str
    data_config: type
    validate: Callable[[Any, Context], None]
    derived: tuple[str, ...]
    bundled: Callable[[], frozenset[str]]
    path_kind: str
    recipe: type[Recipe]
    prediction_columns: tuple[str, ...]
    headline_metrics: tuple[str, ...]
    validation_metrics: tuple[str, ...] = ("val_loss",)

    def missing_columns(self, columns: list[str] | tuple[str, ...]) -> list[str]:
        """The prediction columns of this task that ``columns`` lacks."""
        present = set(columns)
        return [name for name in self.prediction_columns if name not in present]

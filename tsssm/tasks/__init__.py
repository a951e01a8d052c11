"""Tasks: one module each, holding everything about the task (its ``[data]`` config and
checks, its recipe, its prediction columns and headline metrics), registered here.

    forecasting            forecast a series' variates H steps ahead      models: forecasting
    phase                  phase (and progress) at every step of whole    models: phase
                           recordings: surgical videos, nights of sleep
    eeg_classification     classify EEG windows, split by subject         models: classification
    eeg_pretraining        masked-patch pre-training of an EEG encoder    models: pretraining
    series_classification  classify whole series (UCR/UEA)                models: classification
    anomaly_detection      flag anomalous steps by reconstruction error   models: reconstruction

A task's name is what a recipe's ``run.task`` says; its ``model_task`` names the models it
trains (``tsssm.models.list_models(model_task)``). Importing this package is light (no torch,
no Lightning): the app and ``tsssm runs`` read the registry.
"""

from __future__ import annotations

from . import (
    anomaly_detection,
    eeg_classification,
    eeg_pretraining,
    forecasting,
    phase,
    series_classification,
)
from .spec import Task

TASKS: dict[str, Task] = {module.TASK.name: module.TASK for module in (
    forecasting, phase, eeg_classification, eeg_pretraining, series_classification,
    anomaly_detection,
)}


def get_task(name: str) -> Task:
    """The registered task ``name``.

    Raises:
        KeyError: no such task (the message lists the tasks).
    """
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}") from None


__all__ = ["TASKS", "Task", "get_task"]

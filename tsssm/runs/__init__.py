"""Run folders: where a recipe writes, and what the app, ``tsssm runs`` and ``tsssm show`` read.

``folder`` lays a run folder out and writes its files atomically; ``reading`` parses them for
readers, turning damage into messages. Nothing here imports torch or Lightning, so readers
start in a blink.

    folder = RunFolder.create("runs", "etth1_smamba")     # runs/etth1_smamba-<time>/
    [read_run(path) for path in find_runs(Path("runs"))]   # RunInfo of every run folder
"""

from .folder import (
    CONFIG,
    ENVIRONMENT,
    INPUTS,
    METRICS,
    PREDICTIONS,
    STATUS,
    PredictionWriter,
    RunFolder,
    atomic_file,
    is_live,
    list_runs,
    now,
    read_json,
    run_state,
    write_json,
    write_parquet,
    write_text,
)
from .reading import (
    MAX_SMALL_FILE_BYTES,
    RUN_FILES,
    RunFileError,
    RunInfo,
    collect,
    file_stamp,
    find_runs,
    inside_run,
    log_files,
    read_curves,
    read_predictions,
    read_run,
    scan_predictions,
    scan_run_parquet,
)

__all__ = [
    "CONFIG",
    "ENVIRONMENT",
    "INPUTS",
    "MAX_SMALL_FILE_BYTES",
    "METRICS",
    "PREDICTIONS",
    "RUN_FILES",
    "STATUS",
    "PredictionWriter",
    "RunFileError",
    "RunFolder",
    "RunInfo",
    "atomic_file",
    "collect",
    "file_stamp",
    "find_runs",
    "inside_run",
    "is_live",
    "list_runs",
    "log_files",
    "now",
    "read_curves",
    "read_json",
    "read_predictions",
    "read_run",
    "run_state",
    "scan_predictions",
    "scan_run_parquet",
    "write_json",
    "write_parquet",
    "write_text",
]

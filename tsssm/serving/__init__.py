"""A run folder is a model: :func:`load_run` rebuilds the trained models of a finished run and
predicts new data with the run's own preprocessing.

    run = load_run("runs/etth1_smamba-20250101-120000")   # the main model
    run.predict(frame)                                    # polars frame, predictions' columns
    run.models["dlinear"].predict(frame)                  # a baseline
    load_run("runs/...", model="dlinear")

The command ``tsssm predict RUN DATA --out FILE`` does the same from a shell.
"""

from tsssm import _lazy

_PUBLIC = {
    "Predictor": ".predictor",
    "load_run": ".predictor",
}
__all__ = list(_PUBLIC)
__getattr__, __dir__ = _lazy.lazy_exports(__name__, _PUBLIC)

"""Training curves from the run's Lightning CSV logs: per epoch, per model, one chart per
metric (a train loss and a validation loss have different scales)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import streamlit as st

from tsssm.runs import RunFileError, RunInfo

from .. import cache
from ..charts import lines

COLUMNS = 2  # charts side by side (one run's)


def load(infos: Sequence[RunInfo], label_run: bool) -> pl.DataFrame:
    """The curves of ``infos`` stacked; ``line`` names each (``run / model`` when
    ``label_run``). A log that cannot be read is reported and left out."""
    parts = []
    for info in infos:
        try:
            frame = cache.curves(info.path)
        except RunFileError as error:
            st.error(f"Training curves of {info.name} not shown: {error}.")
            continue
        line = pl.format("{} / {}", pl.lit(info.name), "model") if label_run else pl.col("model")
        parts.append(frame.with_columns(line=line))
    return pl.concat(parts) if parts else pl.DataFrame()


def default_metrics(names: Sequence[str]) -> list[str]:
    """The losses among ``names``, without ``*_step`` when its ``*_epoch`` is there (an
    epoch's last step says less than its mean); else the first metric."""
    losses = [m for m in names if "loss" in m]
    kept = [m for m in losses if not (m.endswith("_step")
                                      and m.removesuffix("_step") + "_epoch" in names)]
    return kept or list(names[:1])


def line_order(infos: Sequence[RunInfo], label_run: bool) -> list[str]:
    """The curves' lines in colour order: each run's main model first, then its baselines."""
    return [f"{info.name} / {m}" if label_run else m for info in infos for m in info.models]


def render(infos: Sequence[RunInfo], *, label_run: bool = False, key: str = "curves") -> None:
    st.subheader("Training curves")
    frame = load(infos, label_run)
    if frame.is_empty():
        st.info("No training curves yet: logs/<model>/version_*/metrics.csv holds no epoch "
                "yet (a run logs once an epoch ends).")
        return
    names = frame["metric"].unique().sort().to_list()
    chosen = st.multiselect("Curves", names, default=default_metrics(names), key=key)
    if not chosen:
        st.info("Pick one or more curves to draw.")
        return
    order = line_order(infos, label_run)
    main = None if label_run else infos[0].main_model
    # Lines named "run / model" need the room of a whole row for their legend.
    per_row = 1 if label_run else min(len(chosen), COLUMNS)
    columns = st.columns(per_row)
    for i, metric in enumerate(chosen):
        shown = frame.filter(pl.col("metric") == metric)
        columns[i % per_row].altair_chart(
            lines(shown, "epoch", "value", "line", models=order, main=main, integer_x=True,
                  y_title=metric, legend_title="run / model" if label_run else "model",
                  height=240).properties(title=metric), width="stretch")

"""Training curves from the run's Lightning CSV logs: per epoch, per model, per metric."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import streamlit as st

from tsssm.runs import RunFileError, RunInfo

from .. import cache
from ..charts import lines


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


def render(infos: Sequence[RunInfo], *, label_run: bool = False, key: str = "curves") -> None:
    st.subheader("Training curves")
    frame = load(infos, label_run)
    if frame.is_empty():
        st.info("No training curves yet: logs/<model>/version_*/metrics.csv holds no epoch "
                "yet (a run logs once an epoch ends).")
        return
    names = frame["metric"].unique().sort().to_list()
    default = [m for m in names if "loss" in m] or names[:1]
    chosen = st.multiselect("Curves", names, default=default, key=key)
    shown = frame.filter(pl.col("metric").is_in(chosen))
    if shown.is_empty():
        st.info("Pick one or more curves to draw.")
        return
    st.altair_chart(lines(shown, "epoch", "value", "line", dash="metric"),
                    width="stretch")

"""Phase view (surgical phase recognition, sleep staging): per sequence, ribbons of the true
and predicted phases over time (one colour per phase on every chart of the run), predicted
against true progress within the current phase, and the Jaccard index of every phase; a
night's ribbons are its hypnograms."""

from __future__ import annotations

import polars as pl
import streamlit as st

from tsssm.runs import RunInfo

from .. import cache
from ..charts import label_order, lines, ribbons, segments, track_span
from .common import choose, models_in, part_metrics

TRUTH = "truth"


def render(info: RunInfo) -> None:
    st.header("Phases")
    models = models_in(info)
    order = label_order(list({*cache.values(info, "truth"), *cache.values(info, "prediction")}))
    sequence = choose("Sequence", sorted(cache.values(info, "sequence")), "sequence")
    part = cache.predictions(info, sequence=sequence)

    st.subheader(f"True and predicted phases of {sequence}")
    first = part.filter(pl.col("model") == models[0])
    tracks = pl.concat([
        segments(first, "second", "truth", TRUTH),
        *(segments(part.filter(pl.col("model") == m), "second", "prediction", m)
          for m in models),
    ])
    st.altair_chart(ribbons(tracks, order, title="phase", track_order=[TRUTH, *models]),
                    width="stretch")

    st.subheader("Progress within the current phase")
    st.caption("0 when a phase starts, 1 when it ends: the truth climbs once per phase; a "
               "model's line is its estimate at each step.")
    progress = pl.concat([
        first.select("second", progress="truth_progress", line=pl.lit(TRUTH)),
        part.select("second", "progress", line="model"),
    ], how="vertical_relaxed")
    st.altair_chart(lines(progress, "second", "progress", "line", models=models,
                          main=models[0], y_title="progress (0-1)", legend_title="line",
                          x_domain=track_span(tracks)),
                    width="stretch")

    st.subheader("Jaccard index per phase")
    st.dataframe(phase_jaccard(part, order), hide_index=True)
    table = part_metrics(info, "per_sequence", "sequence")
    if not table.is_empty():
        st.subheader(f"Metrics of {sequence} (metrics.json)")
        st.dataframe(table.filter(pl.col("sequence") == sequence), hide_index=True)


def phase_jaccard(frame: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    """Per phase of ``order`` (rows) and model (columns): |truth ∩ prediction| /
    |truth ∪ prediction| over the rows of ``frame``; null for a phase in neither."""
    rows = []
    for phase in order:
        truth, predicted = pl.col("truth") == phase, pl.col("prediction") == phase
        rows.append(frame.group_by("model", maintain_order=True).agg(
            phase=pl.lit(phase),
            jaccard=(truth & predicted).sum() / (truth | predicted).sum()))
    jaccard = pl.concat(rows).with_columns(pl.col("jaccard").fill_nan(None))
    return jaccard.pivot(on="model", index="phase", values="jaccard")

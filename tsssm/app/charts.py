"""Altair charts shared by the app's views: curves, bands, dots, label ribbons, heat maps.

Charts take polars frames and hand Altair pandas frames (what Streamlit serialises best).
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from tsssm.data.phase_names import CHOLEC80_PHASES, SLEEP_STAGES

# Enough distinct colours for Cholec80's 7 phases, sleep's 5 stages, or 20 classes.
PALETTE = "category20"
# Label sets with a conventional order (and so a fixed colour per label across runs).
KNOWN_ORDERS = (CHOLEC80_PHASES, SLEEP_STAGES)


def label_order(labels: Sequence[str]) -> list[str]:
    """``labels`` in their data set's standard order when they belong to a known set
    (Cholec80 phases, sleep stages), else sorted: the colour domain of every chart of a run,
    so that one phase keeps one colour on every chart."""
    present = set(labels)
    for order in KNOWN_ORDERS:
        if present <= set(order):
            return list(order)
    return sorted(present)


def label_colour(order: Sequence[str], title: str, field: str = "label") -> alt.Color:
    """Colour by the labels of column ``field``, one fixed colour per label of ``order``."""
    return alt.Color(f"{field}:N", title=title, sort=list(order),
                     scale=alt.Scale(domain=list(order), scheme=PALETTE))


def lines(frame: pl.DataFrame, x: str, y: str, colour: str, *, dash: str | None = None,
          x_title: str | None = None, y_title: str | None = None,
          height: int = 280) -> alt.Chart:
    """Lines of ``y`` over ``x``, one per value of ``colour`` (and of ``dash``)."""
    encoding = {
        "x": alt.X(x, title=x_title or x),
        "y": alt.Y(y, title=y_title or y, scale=alt.Scale(zero=False)),
        "color": alt.Color(f"{colour}:N", title=colour),
        "tooltip": [c for c in (x, y, colour, dash) if c],
    }
    if dash:
        encoding["strokeDash"] = alt.StrokeDash(f"{dash}:N", title=dash)
    return (alt.Chart(frame.to_pandas()).mark_line(point=frame.height <= 200)
            .encode(**encoding).properties(height=height))


def bands(frame: pl.DataFrame, x: str, low: str, high: str, colour: str, *,
          opacity: float = 0.18, height: int = 280) -> alt.Chart:
    """Shaded bands from ``low`` to ``high`` over ``x``, one per value of ``colour`` (the
    central intervals of quantile forecasts); layer them under :func:`lines` with ``+``."""
    return (alt.Chart(frame.to_pandas()).mark_area(opacity=opacity)
            .encode(x=alt.X(x), y=alt.Y(low), y2=alt.Y2(high),
                    color=alt.Color(f"{colour}:N", title=colour),
                    tooltip=[x, colour, low, high])
            .properties(height=height))


def points(frame: pl.DataFrame, x: str, y: str, colour: str, order: Sequence[str], *,
           x_title: str | None = None, y_title: str | None = None,
           tooltip: Sequence[str] = (), height: int = 240) -> alt.Chart:
    """Dots of ``y`` over ``x``, coloured by the label column ``colour`` in ``order``."""
    return (alt.Chart(frame.to_pandas()).mark_circle(size=40, opacity=0.8)
            .encode(x=alt.X(x, title=x_title or x),
                    y=alt.Y(y, title=y_title or y),
                    color=label_colour(order, colour, colour),
                    tooltip=list(tooltip) or [x, y, colour])
            .properties(height=height))


def segments(frame: pl.DataFrame, time: str, label: str, track: str) -> pl.DataFrame:
    """Runs of equal ``label`` along ``time`` (sorted) as rectangles of one ``track``:
    columns ``track``, ``start``, ``end`` (the next run's start; for the last run, its last
    time plus the median step), ``label``."""
    frame = frame.sort(time)
    times = frame[time].cast(pl.Float64)
    step = float(times.diff().median() or 1.0)
    change = frame[label].cast(pl.String) != frame[label].cast(pl.String).shift(1)
    runs = (pl.DataFrame({"start": times, "label": frame[label].cast(pl.String),
                          "run": change.fill_null(True).cum_sum()})
            .group_by("run", maintain_order=True)
            .agg(pl.col("start").first(), pl.col("label").first()))
    ends = runs["start"].shift(-1).fill_null(float(times.max()) + step)
    return runs.select(pl.lit(track).alias("track"), "start", end=ends, label="label")


def ribbons(tracks: pl.DataFrame, order: Sequence[str], *, title: str = "label",
            x_title: str = "second", track_order: Sequence[str] | None = None,
            height: int | None = None) -> alt.Chart:
    """Coloured bands, one row per ``track`` (truth, then each model), from
    :func:`segments` frames stacked together."""
    track_order = list(track_order or tracks["track"].unique(maintain_order=True))
    return (alt.Chart(tracks.to_pandas()).mark_rect()
            .encode(x=alt.X("start:Q", title=x_title), x2="end:Q",
                    y=alt.Y("track:N", title=None, sort=track_order),
                    color=label_colour(order, title),
                    tooltip=["track", "label", "start", "end"])
            .properties(height=height or 36 * len(track_order) + 40))


def heatmap(frame: pl.DataFrame, x: str, y: str, value: str, order: Sequence[str]) -> alt.Chart:
    """A labelled heat map (a confusion matrix): ``x``, ``y`` categorical in ``order``."""
    base = alt.Chart(frame.to_pandas()).encode(
        x=alt.X(f"{x}:N", sort=list(order)), y=alt.Y(f"{y}:N", sort=list(order)))
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=alt.Scale(
        scheme="blues")), tooltip=[x, y, value])
    text = base.mark_text().encode(text=f"{value}:Q")
    return (cells + text).properties(height=60 * len(order) + 60)

"""Altair charts shared by the app's views: lines, bands, dots, label ribbons, heat maps and
ROC / precision-recall curves.

Colours follow two rules, so that a person reads every chart of a run the same way:

- lines of models (:func:`series_colour`): the main model in the strongest colour and drawn
  thickest, its baselines in the next colours in their recipe order, the truth in black and
  a forecast's lookback in grey; one model keeps one colour on every chart of a page;
- labels (phases, sleep stages, classes; :func:`label_colour`): one distinct hue per label,
  in the data set's standard order, so that one phase keeps one colour on every chart.

Legends never shorten their labels (long run names would all read alike). Charts take polars
frames and hand Altair pandas frames (what Streamlit serialises best).
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from tsssm.data.phase_names import CHOLEC80_PHASES, SLEEP_STAGES

# Label sets with a conventional order (and so a fixed colour per label across runs).
KNOWN_ORDERS = (CHOLEC80_PHASES, SLEEP_STAGES)
# Distinct hues for up to 10 labels (Cholec80's 7 phases, sleep's 5 stages, 2 classes);
# category20's light/dark pairs would give neighbouring phases near-identical colours.
LABEL_SCHEMES = ((10, "tableau10"), (20, "category20"))
# Lines that are not a model's: fixed colours.
FIXED_COLOURS = {"truth": "#222222", "lookback": "#a0a0a0", "threshold": "#d62728",
                 "value": "#222222", "score": "#1f77b4"}
# Models in order: the main model first (a strong blue), then its baselines.
MODEL_COLOURS = ("#1f6fd1", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#bcbd22", "#7f7f7f", "#d62728")
MAIN_WIDTH, OTHER_WIDTH = 2.6, 1.4
TRACK_HEIGHT = 30  # pixels per ribbon
LEGEND_ROW = 4  # labels per row of a legend above a chart
AXIS_EXTENT = 70  # pixels for a y axis, so that charts stacked on a page line up


def label_order(labels: Sequence[str]) -> list[str]:
    """``labels`` in their data set's standard order when they belong to a known set
    (Cholec80 phases, sleep stages), else sorted: the colour domain of every chart of a run,
    so that one phase keeps one colour on every chart."""
    present = set(labels)
    for order in KNOWN_ORDERS:
        if present <= set(order):
            return list(order)
    return sorted(present)


def legend(title: str | None, *, lines: bool = False, top: int = 0) -> alt.Legend:
    """A legend that never shortens its labels; for ``lines``, each symbol a short opaque
    stroke (not the pale swatch of a band drawn in the same colour, nor a line's width);
    ``top``: above the chart, that many labels a row (so that the plot keeps the full width,
    aligned with the chart under it)."""
    style = {"symbolType": "stroke", "symbolStrokeWidth": 3, "symbolOpacity": 1,
             "symbolSize": 300} if lines else {}
    place = {"orient": "top", "columns": top} if top else {}
    return alt.Legend(title=title, labelLimit=0, **style, **place)


def label_colour(order: Sequence[str], title: str, field: str = "label", *,
                 top: int = 0) -> alt.Color:
    """Colour by the labels of column ``field``, one fixed, distinct colour per label of
    ``order`` (the legend above the chart, ``top`` labels a row, when ``top``)."""
    scheme = next((s for size, s in LABEL_SCHEMES if len(order) <= size), "category20")
    return alt.Color(f"{field}:N", title=title, sort=list(order),
                     scale=alt.Scale(domain=list(order), scheme=scheme),
                     legend=legend(title, top=top))


def series_order(frame: pl.DataFrame, field: str, models: Sequence[str] = ()) -> list[str]:
    """The values of ``frame[field]``: fixed lines first (truth, lookback...), then
    ``models`` in their order (the main model first), then any other value in file order."""
    present = frame[field].unique(maintain_order=True).to_list()
    fixed = [name for name in FIXED_COLOURS if name in present]
    known = [m for m in models if m in present]
    return [*fixed, *known, *(v for v in present if v not in fixed and v not in known)]


def series_colour(order: Sequence[str], title: str | None, field: str) -> alt.Color:
    """Colour lines by ``field``: the fixed colours of :data:`FIXED_COLOURS`, then
    :data:`MODEL_COLOURS` in ``order`` (the main model first)."""
    colours, models = [], iter(MODEL_COLOURS * (len(order) // len(MODEL_COLOURS) + 1))
    for name in order:
        colours.append(FIXED_COLOURS.get(name) or next(models))
    # One line needs no legend: the chart's heading names it.
    return alt.Color(f"{field}:N", sort=list(order),
                     scale=alt.Scale(domain=list(order), range=colours),
                     legend=legend(title, lines=True) if len(order) > 1 else None)


def series_width(order: Sequence[str], field: str, main: str | None) -> alt.StrokeWidth:
    """Line width by ``field``: the main model (and the truth) thicker than the rest."""
    widths = [MAIN_WIDTH if name in (main, "truth") else OTHER_WIDTH for name in order]
    return alt.StrokeWidth(f"{field}:N", scale=alt.Scale(domain=list(order), range=widths),
                           legend=None)


def lines(frame: pl.DataFrame, x: str, y: str, colour: str, *,
          models: Sequence[str] = (), main: str | None = None,
          x_title: str | None = None, y_title: str | None = None, integer_x: bool = False,
          x_domain: Sequence[float] | None = None, legend_title: str | None = None,
          height: int = 280) -> alt.Chart:
    """Lines of ``y`` over ``x``, one per value of ``colour``, coloured by
    :func:`series_colour` (``models`` in order, ``main`` drawn thickest); ``integer_x`` for
    an axis of whole numbers (epochs, trials). The x axis spans the data (no zero added), or
    ``x_domain`` (that of a chart above it)."""
    order = series_order(frame, colour, models)
    axis = alt.Axis(format="d", tickMinStep=1) if integer_x else alt.Axis()
    scale = alt.Scale(zero=False, nice=False, domain=list(x_domain) if x_domain else alt.Undefined)
    encoding = {
        "x": alt.X(x, title=x_title or x, axis=axis, scale=scale),
        # y_title "": none (the caption above says what the line is).
        "y": alt.Y(y, title=y if y_title is None else y_title or None, scale=alt.Scale(zero=False),
                   axis=alt.Axis(minExtent=AXIS_EXTENT)),
        "color": series_colour(order, legend_title, colour),
        "strokeWidth": series_width(order, colour, main),
        "tooltip": [c for c in (colour, x, y) if c],
    }
    points = frame.height <= 60
    return (alt.Chart(frame.to_pandas()).mark_line(point=points, clip=True)
            .encode(**encoding).properties(height=height))


def bands(frame: pl.DataFrame, x: str, low: str, high: str, colour: str,
          order: Sequence[str], *, opacity: float = 0.2, height: int = 280) -> alt.Chart:
    """Shaded bands from ``low`` to ``high`` over ``x``, one per value of ``colour`` in the
    colour of its line (``order``: that of the lines' :func:`series_order`), the central
    intervals of quantile forecasts; layer them under :func:`lines` with ``+``."""
    return (alt.Chart(frame.to_pandas()).mark_area(opacity=opacity)
            .encode(x=alt.X(x), y=alt.Y(low), y2=alt.Y2(high),
                    color=series_colour(order, None, colour),
                    tooltip=[x, colour, low, high])
            .properties(height=height))


def points(frame: pl.DataFrame, x: str, y: str, colour: str, order: Sequence[str], *,
           shape: str | None = None, shapes: dict[str, str] | None = None,
           x_title: str | None = None, y_title: str | None = None,
           tooltip: Sequence[str] = (), height: int = 240) -> alt.Chart:
    """Dots of ``y`` over ``x``, coloured by the label column ``colour`` in ``order`` (and
    shaped by the column ``shape``: ``shapes`` maps its values to Vega shapes, "cross")."""
    encoding = {"x": alt.X(x, title=x_title or x, scale=alt.Scale(zero=False, nice=False)),
                "y": alt.Y(y, title=y_title or y),
                "color": label_colour(order, colour, colour),
                "tooltip": list(tooltip) or [x, y, colour]}
    if shape:
        shapes = shapes or {}
        encoding["shape"] = alt.Shape(f"{shape}:N", legend=legend(shape), scale=alt.Scale(
            domain=list(shapes), range=list(shapes.values())) if shapes else alt.Undefined)
    return (alt.Chart(frame.to_pandas()).mark_point(size=50, filled=True, opacity=0.85)
            .encode(**encoding).properties(height=height))


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
            x_title: str = "second", track_order: Sequence[str] | None = None) -> alt.Chart:
    """Coloured bands, one row per ``track`` (truth, then each model), from
    :func:`segments` frames stacked together, exactly as wide as the recording; the legend
    above it (the plot keeps the page's width, aligned with a chart of the same times)."""
    track_order = list(track_order or tracks["track"].unique(maintain_order=True))
    span = track_span(tracks)
    return (alt.Chart(tracks.to_pandas()).mark_rect()
            .encode(x=alt.X("start:Q", title=x_title, scale=alt.Scale(domain=span, nice=False)),
                    x2="end:Q",
                    y=alt.Y("track:N", title=None, sort=track_order,
                            axis=alt.Axis(minExtent=AXIS_EXTENT)),
                    color=label_colour(order, title, top=min(len(order), LEGEND_ROW)),
                    tooltip=["track", "label", "start", "end"])
            # A fixed height per ribbon: the axis and the legend come on top of it.
            .properties(height=alt.Step(TRACK_HEIGHT)))


def track_span(tracks: pl.DataFrame) -> list[float]:
    """The times :func:`ribbons` spans: from the first start to the last end of ``tracks``."""
    return [float(tracks["start"].min()), float(tracks["end"].max())]


def heatmap(frame: pl.DataFrame, x: str, y: str, value: str, order: Sequence[str]) -> alt.Chart:
    """A labelled heat map (a confusion matrix): ``x``, ``y`` categorical in ``order``, each
    cell's count written on it (white on dark cells)."""
    top = float(frame[value].max() or 1)
    base = alt.Chart(frame.to_pandas()).encode(
        x=alt.X(f"{x}:N", sort=list(order), axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y(f"{y}:N", sort=list(order)))
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="blues", domain=[0, top]),
                        legend=None),
        tooltip=[y, x, value])
    text = base.mark_text(fontSize=15).encode(
        text=f"{value}:Q",
        color=alt.condition(alt.datum[value] > top / 2, alt.value("white"),
                            alt.value("#222222")))
    return (cells + text).properties(height=64 * len(order) + 70)


def rate_curve(frame: pl.DataFrame, x: str, y: str, chance: pl.DataFrame, *,
               interpolate: str = "linear", height: int = 280) -> alt.Chart:
    """A ROC or precision-recall curve (``frame``: columns ``x``, ``y``, its points in
    drawing order) on [0, 1] x [0, 1] over the dashed line of a classifier that guesses
    (``chance``: the same columns); ``interpolate="step-before"`` for precision-recall,
    whose precision holds up to each point's recall (average precision's steps)."""
    unit = alt.Scale(domain=[0, 1], nice=False)
    curve = (alt.Chart(frame.with_row_index("point").to_pandas())
             .mark_line(color=MODEL_COLOURS[0], strokeWidth=2.2, interpolate=interpolate)
             .encode(x=alt.X(x, scale=unit), y=alt.Y(y, scale=unit), order="point:Q",
                     tooltip=[x, y]))
    guess = (alt.Chart(chance.to_pandas()).mark_line(color="#a0a0a0", strokeDash=[5, 4])
             .encode(x=x, y=y))
    return (guess + curve).properties(height=height)

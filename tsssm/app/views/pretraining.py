"""Pre-training view (``eeg_pretrain``: masked reconstruction of EEG windows). Such a run
writes no predictions: the view reads metrics.json alone, its held-out reconstruction loss
against the loss of reconstructing every hidden sample as 0, and the windows it trained on.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from tsssm.runs import RunInfo

LOSS, ZERO = "reconstruction_loss", "zero_loss"


def render(info: RunInfo) -> None:
    st.header("Pre-training")
    table = reconstruction(info)
    if table.is_empty():
        st.info("No held-out reconstruction scores yet: metrics.json gets them when a model "
                "has trained.")
    else:
        st.subheader("Held-out reconstruction")
        st.caption("Smooth-L1 over the hidden samples of the test subjects' windows, beside "
                   "the same loss of predicting 0 for every hidden sample; a ratio well "
                   "below 1 is an encoder worth fine-tuning.")
        st.dataframe(table, hide_index=True)
    for model in info.models:
        windows = info.metrics.get(model, {}).get("windows")
        if isinstance(windows, dict):
            st.subheader(f"Windows of {model}")
            st.dataframe(window_facts(windows), hide_index=True)


def reconstruction(info: RunInfo) -> pl.DataFrame:
    """One row per model with test scores: reconstruction and zero loss, their ratio, and
    the number of test windows."""
    rows = []
    for model in info.models:
        test = info.test_metrics(model)
        if LOSS in test and ZERO in test:
            rows.append({"model": model, LOSS: test[LOSS], ZERO: test[ZERO],
                         "ratio": test[LOSS] / test[ZERO] if test[ZERO] else None,
                         "test windows": test.get("windows")})
    return pl.from_dicts(rows, infer_schema_length=None) if rows else pl.DataFrame()


def window_facts(windows: dict[str, Any]) -> pl.DataFrame:
    """metrics.json's ``windows`` (channels, rate, length, subjects of each split, extra
    data sets) as fact / value rows."""
    subjects = windows.get("subjects", {})
    facts = {
        "channels": ", ".join(map(str, windows.get("ch_names", []))),
        "sampling rate (Hz)": windows.get("sfreq"),
        "samples per window": windows.get("n_times"),
        "training windows": windows.get("train_windows"),
        **{f"{split} subjects": ", ".join(map(str, subjects.get(split, [])))
           for split in ("train", "val", "test")},
        "extra data sets": ", ".join(map(str, windows.get("extra_datasets", []))) or "-",
    }
    return pl.DataFrame({"fact": list(facts), "value": [str(v) for v in facts.values()]})

"""The app's frame: page set-up, the runs folder, and which page to draw."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from tsssm.runs import RunFileError

from . import RUNS_DIR_ENV, cache
from .views import compare, overview, run, study

PAGES = {"runs": overview.render, "run": run.render, "compare": compare.render,
         "study": study.render}
LABELS = {"runs": "Runs", "run": "Run", "compare": "Compare", "study": "Study"}


def default_page() -> str:
    """The page of the URL: ``?page=...``, else "run" for ``?run=...``, "compare" for
    ``?compare=...``, "study" for ``?study=...``, else the overview."""
    page = st.query_params.get("page")
    if page in PAGES:
        return page
    for key in ("run", "compare", "study"):
        if key in st.query_params:
            return key
    return "runs"


def main() -> None:
    st.set_page_config(page_title="tsssm runs", layout="wide")
    st.sidebar.title("tsssm")
    runs_dir = Path(st.sidebar.text_input(
        "Runs folder", value=os.environ.get(RUNS_DIR_ENV, "runs"), key="runs_dir"))
    pages = list(PAGES)
    page = st.sidebar.radio("Page", pages, index=pages.index(default_page()),
                            format_func=LABELS.__getitem__, key="page")
    st.query_params["page"] = page
    try:
        infos = cache.runs(runs_dir)
    except RunFileError as error:
        st.error(f"No runs folder: {error}. Start the app with `tsssm app --runs DIR`, or type "
                 "the folder holding your run folders in the sidebar.")
        return
    if not infos:
        st.warning(f"No runs in {runs_dir} yet. Train one with `tsssm run "
                   f"recipes/etth1_smamba.toml --output-dir {runs_dir}`; it shows here as soon "
                   "as it starts.")
        return
    PAGES[page](infos)

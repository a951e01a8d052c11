"""The app's frame: page set-up, the runs folder, and which page to draw.

Only the chosen page's module is imported (:data:`PAGES`): the runs overview, the first page
a person sees, imports neither Altair nor scikit-learn (nor, like every page, torch or
Lightning), so it draws within a second or two of ``tsssm app`` starting.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from tsssm.runs import RunFileError, RunInfo

from . import RUNS_DIR_ENV, cache

# Page -> (its label in the sidebar, the module of tsssm.app.views whose ``render`` draws it).
PAGES = {"runs": ("Runs", "overview"), "run": ("Run", "run"),
         "compare": ("Compare", "compare"), "study": ("Study", "study")}


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


def render(page: str, infos: Sequence[RunInfo]) -> None:
    """Draw ``page`` (a key of :data:`PAGES`), importing its module only now."""
    module = importlib.import_module(f"{__package__}.views.{PAGES[page][1]}")
    module.render(infos)


def main() -> None:
    st.set_page_config(page_title="tsssm runs", layout="wide")
    st.sidebar.title("tsssm")
    # Fixed by the command line (`tsssm app --runs DIR`): the app reads nothing outside it,
    # so the page offers no way to point it at another folder.
    runs_dir = Path(os.environ.get(RUNS_DIR_ENV, "runs"))
    st.sidebar.caption(f"Runs folder: `{runs_dir}`")
    pages = list(PAGES)
    page = st.sidebar.radio("Page", pages, index=pages.index(default_page()),
                            format_func=lambda p: PAGES[p][0], key="page")
    st.query_params["page"] = page
    try:
        infos = cache.runs(runs_dir)
    except RunFileError as error:
        st.error(f"No runs folder: {error}. Start the app with `tsssm app --runs DIR` on the "
                 "folder holding your run folders.")
        return
    if not infos:
        st.warning(f"No runs in {runs_dir} yet. Train one with `tsssm run "
                   f"recipes/etth1_smamba.toml --output-dir {runs_dir}`; it shows here as soon "
                   "as it starts.")
        return
    render(page, infos)

"""The Streamlit app that inspects run folders: ``tsssm app --runs DIR``.

Why the app's code lives here, inside the ``tsssm`` package, and not in the top-level
``app/`` folder: an importable package is installed with the distribution (so ``tsssm app``
works after ``pip install tsssm``, not only in a source checkout), and its modules can be
imported and tested like the rest of the library. ``app/tsssm_app.py`` in the checkout and
``streamlit_app.py`` here are both three-line scripts for ``streamlit run``; they call
:func:`tsssm.app.main.main`.

The app only reads run folders (json, tomllib, polars; never a pickle or a checkpoint) and
never writes to them. Pages (chosen in the sidebar, or by the URL's query parameters):

    ?page=runs                         every run, filtered and sorted
    ?page=run&run=NAME                 one run and the view of its task
    ?page=compare&compare=NAME,NAME    runs side by side
    ?page=study&study=NAME             a study of `tsssm tune`: trials, importances

The runs folder is ``$TSSSM_RUNS_DIR`` (set by ``tsssm app --runs DIR``), else ``runs``.
"""

from pathlib import Path

RUNS_DIR_ENV = "TSSSM_RUNS_DIR"
SCRIPT = Path(__file__).with_name("streamlit_app.py")

__all__ = ["RUNS_DIR_ENV", "SCRIPT"]

"""The app's server process: ``python -m tsssm.app.serve [streamlit run options]``.

``tsssm app`` starts this instead of ``python -m streamlit run``: it imports the libraries
every page needs (polars, pandas and pyarrow for the tables, Altair for the charts,
``tsssm.runs``) and then runs Streamlit's own command line in the same process. Streamlit
executes the app's script in that process for each visitor, so the first page finds them
loaded instead of waiting for their imports (about a second and a half of a 2-core CPU).
The app's own modules are not imported here: their ``st.cache_data`` functions must be
created under Streamlit's runtime.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from . import SCRIPT

PRELOADED = ("polars", "pandas", "pyarrow", "altair", "tsssm.runs")


def server_command(port: int, address: str, headless: bool = False) -> list[str]:
    """The command line that serves the app on ``address:port``."""
    return [sys.executable, "-m", "tsssm.app.serve", "--server.port", str(port),
            "--server.address", address, "--server.headless", str(headless).lower(),
            "--browser.gatherUsageStats", "false"]


def main(options: Sequence[str]) -> None:
    """Import :data:`PRELOADED`, then ``streamlit run`` the app's script with ``options``."""
    for name in PRELOADED:
        importlib.import_module(name)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(SCRIPT), *options]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main(sys.argv[1:])

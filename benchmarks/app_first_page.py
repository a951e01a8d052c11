"""How long the app's first page takes to appear in a real browser.

Serves ``tsssm app`` on a runs folder (``streamlit run``, headless), opens the runs overview
in headless Chromium and times navigation -> the page drawn (the app's script finished and
its main area holds text), first on the fresh server (the first script run pays the
imports) and then on reloads; then one run page the same way. Prints the load average
beside the times: a busy machine inflates them.

    python benchmarks/app_first_page.py --runs RUNS_DIR [--reloads 3]

Needs Chromium on PATH (Debian: apt-get install chromium) and a runs folder with at least
one run (``python docs/make_screenshots.py --runs DIR --make-runs`` makes three).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tsssm.runs import RunFileError, find_runs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "app"))  # the browser driver is test tooling
import browser  # noqa: E402


def seconds_to_draw(page: browser.Chromium, url: str) -> float:
    start = time.perf_counter()
    page.open(url, settle=0.0, poll=0.02)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="runs folder")
    parser.add_argument("--reloads", type=int, default=3)
    args = parser.parse_args(argv)
    chromium = browser.find_chromium()
    if chromium is None:
        raise SystemExit("app_first_page: no Chromium on PATH (apt-get install chromium)")
    try:
        runs = sorted(find_runs(args.runs))
    except RunFileError as error:
        raise SystemExit(f"app_first_page: {error}") from None
    if not runs:
        raise SystemExit(f"app_first_page: {args.runs} holds no run")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with browser.serve(args.runs) as url, browser.Chromium(chromium, (1400, 1500)) as page:
        first = seconds_to_draw(page, f"{url}/")
        again = [seconds_to_draw(page, f"{url}/") for _ in range(args.reloads)]
        run_page = seconds_to_draw(page, f"{url}/?run={runs[0].name}")
    print(f"runs overview, first load on a fresh server: {first:.2f} s")
    print(f"runs overview, reloads: {', '.join(f'{s:.2f}' for s in again)} s")
    print(f"run page {runs[0].name}: {run_page:.2f} s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

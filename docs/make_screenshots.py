"""Write the README's screenshots of the app to docs/: the runs overview and a forecasting
run (lookback, forecasts, error by horizon step, training curves).

    python docs/make_screenshots.py                 # a short real S-Mamba run on ETTh1 first
    python docs/make_screenshots.py --runs runs     # pictures of existing runs instead

Needs Chromium on PATH (Debian: apt-get install chromium). The short run trains each model of
recipes/etth1_smamba.toml for 2 epochs of 30 batches, narrower (a few minutes on 2 CPU cores), so
its numbers are not the recipe's results.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

from tsssm.app import browser
from tsssm.cli import main as tsssm

REPO = Path(__file__).resolve().parents[1]
SHORT_RUN = ["train.max_epochs=2", "train.limit_train_batches=30", "train.limit_val_batches=20",
             "train.progress_bar=false",
             "model.d_model=64", "model.d_ff=64", "baselines.itransformer.d_model=64",
             "baselines.itransformer.d_ff=64", "baselines.itransformer.n_heads=4"]
SIZE = (1400, 1500)
MAX_BYTES = 300_000


def short_run(runs_dir: Path) -> Path:
    """A short real run of recipes/etth1_smamba.toml in ``runs_dir``; its folder."""
    overrides = [part for item in SHORT_RUN for part in ("--set", item)]
    with contextlib.redirect_stdout(io.StringIO()):
        tsssm(["run", str(REPO / "recipes" / "etth1_smamba.toml"), *overrides,
               "--output-dir", str(runs_dir)])
    (run,) = runs_dir.iterdir()
    return run


def save_small(path: Path) -> int:
    """Re-encode the PNG at ``path`` with a 256-colour palette; its new size in bytes."""
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    return path.stat().st_size


def shoot(runs_dir: Path, run: str, out: Path) -> list[Path]:
    chromium = browser.find_chromium()
    if chromium is None:
        raise SystemExit("make_screenshots: no Chromium on PATH (apt-get install chromium)")
    pages = {"app_runs.png": "", "app_forecasting.png": f"?run={run}"}
    written = []
    with browser.serve(runs_dir) as url, browser.Chromium(chromium, SIZE) as page:
        for name, query in pages.items():
            page.open(f"{url}/{query}")
            if browser.exception_shown(page.dom()):
                raise SystemExit(f"make_screenshots: the app shows an exception on {query}")
            path = page.screenshot(out / name)
            if save_small(path) > MAX_BYTES:
                raise SystemExit(f"make_screenshots: {path} is over {MAX_BYTES} bytes")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="existing runs folder (default: make a "
                        "short ETTh1 run in a temporary folder)")
    parser.add_argument("--run", help="the run to show (default: the newest in --runs)")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="default: docs/")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as temp:
        runs_dir = args.runs or Path(temp) / "runs"
        if args.runs is None:
            run = short_run(runs_dir).name
        else:
            run = args.run or max(p for p in runs_dir.iterdir() if p.is_dir()).name
        for path in shoot(runs_dir, run, args.out):
            print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

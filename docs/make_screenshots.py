"""Write the README's screenshots of the app to docs/: the runs overview (app_runs.png), a
forecasting run (app_forecasting.png: lookback, forecasts, error by horizon step, training
curves), a Cholec80 phase run (app_phase.png: true and predicted phase ribbons, progress,
Jaccard per phase) and an EEG run (app_eeg.png: timeline, confusion matrix, ROC, PR).

    python docs/make_screenshots.py                 # short real runs of three recipes first
    python docs/make_screenshots.py --runs runs     # the newest existing run of each task
    python docs/make_screenshots.py --runs shots --make-runs --width 1920   # kept, wide

Needs Chromium on PATH (Debian: apt-get install chromium). The short runs are real but cut
down (about 5 minutes in all on 2 CPU cores), so their numbers are not the recipes' results:
recipes/etth1_smamba.toml trains each model for 2 epochs of 30 batches, narrower;
recipes/cholec80_phase.toml trains a narrower PhaseSSM for 6 epochs (the TCN baseline for 2);
recipes/eeg_mental_arithmetic.toml trains FEMBA and its Mamba-head variant (not Chimera).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

from tsssm.cli import main as tsssm
from tsssm.runs import RunFileError, find_runs, read_run

REPO = Path(__file__).resolve().parents[1]
# The browser driver is test tooling: it lives beside the browser test, not in the package.
sys.path.insert(0, str(REPO / "tests" / "app"))
import browser  # noqa: E402

QUIET = ["train.progress_bar=false", "train.threads=1"]
# Per task shown: the recipe file of its short run and the overrides that cut it down.
SHORT_RUNS = {
    "forecasting": ("etth1_smamba.toml", [
        "train.max_epochs=2", "train.limit_train_batches=30", "train.limit_val_batches=20",
        "model.d_model=64", "model.d_ff=64", "baselines.itransformer.d_model=64",
        "baselines.itransformer.d_ff=64", "baselines.itransformer.n_heads=4"]),
    "phase": ("cholec80_phase.toml", [
        "train.max_epochs=6", "train.lr=3e-3", "model.d_model=32",
        "train.checkpoint_every_n_steps=1000", "baselines.phase_tcn.train.max_epochs=2"]),
    "eeg_classification": ("eeg_mental_arithmetic.toml", ['run.baselines=["femba_mamba_head"]']),
}
# Screenshot file -> the task whose run it shows (None: the runs overview).
PAGES = {"app_runs.png": None, "app_forecasting.png": "forecasting",
         "app_phase.png": "phase", "app_eeg.png": "eeg_classification"}
WIDTH, HEIGHT = 1400, 1500  # the README's pictures; --width 1920 to check a wide screen
MAX_BYTES = 300_000


def short_run(runs_dir: Path, task: str) -> Path:
    """A short real run (see :data:`SHORT_RUNS`) of ``task``'s recipe in ``runs_dir``; its
    folder."""
    recipe, cut = SHORT_RUNS[task]
    overrides = [part for item in [*cut, *QUIET] for part in ("--set", item)]
    before = set(runs_dir.iterdir()) if runs_dir.is_dir() else set()
    with contextlib.redirect_stdout(io.StringIO()):
        code = tsssm(["run", str(REPO / "recipes" / recipe), *overrides,
                      "--output-dir", str(runs_dir)])
    if code != 0:
        raise SystemExit(f"make_screenshots: the short run of recipes/{recipe} failed")
    (run,) = set(runs_dir.iterdir()) - before
    return run


def newest_runs(runs_dir: Path) -> dict[str, str]:
    """The newest run folder of each task shown (:data:`SHORT_RUNS`) in ``runs_dir``."""
    try:
        paths = find_runs(runs_dir)
    except RunFileError as error:
        raise SystemExit(f"make_screenshots: {error}") from None
    infos = sorted((read_run(path) for path in paths), key=lambda info: (info.created, info.name))
    newest = {info.task: info.name for info in infos if info.task in SHORT_RUNS}
    missing = sorted(set(SHORT_RUNS) - set(newest))
    if missing:
        raise SystemExit(f"make_screenshots: {runs_dir} holds no run of the task(s) {missing}")
    return newest


def save_small(path: Path) -> int:
    """Re-encode the PNG at ``path`` with a 256-colour palette; its new size in bytes."""
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    return path.stat().st_size


def shoot(runs_dir: Path, runs: dict[str, str], out: Path, width: int = WIDTH) -> list[Path]:
    """Screenshots of :data:`PAGES` (``runs``: the run folder of each task) in ``out``, in a
    window ``width`` pixels wide."""
    chromium = browser.find_chromium()
    if chromium is None:
        raise SystemExit("make_screenshots: no Chromium on PATH (apt-get install chromium)")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with browser.serve(runs_dir) as url, browser.Chromium(chromium, (width, HEIGHT)) as page:
        for name, task in PAGES.items():
            query = "" if task is None else f"?run={runs[task]}"
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
    parser.add_argument("--runs", type=Path, help="runs folder with a run of each task shown "
                        "(default: make short runs in a temporary folder)")
    parser.add_argument("--make-runs", action="store_true",
                        help="make the short runs in --runs first (they stay there)")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="default: docs/")
    parser.add_argument("--width", type=int, default=WIDTH, help="window width in pixels "
                        f"(default {WIDTH}, the README's)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as temp:
        runs_dir = args.runs or Path(temp) / "runs"
        if args.runs is None or args.make_runs:
            runs = {task: short_run(runs_dir, task).name for task in SHORT_RUNS}
        else:
            runs = newest_runs(runs_dir)
        for path in shoot(runs_dir, runs, args.out, args.width):
            print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

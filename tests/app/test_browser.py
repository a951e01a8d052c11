"""The app in a real browser: serve it headless, open every page type (the overview, a run
of every task, the comparison) in headless Chromium, and check each rendered (a non-blank
screenshot, no exception box, the page's own content)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from . import browser


@pytest.fixture(scope="module")
def chromium() -> str:
    # Never installed from here: a test must not reach the network.
    path = browser.find_chromium()
    if path is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install -y chromium)")
    pytest.importorskip("websockets.sync.client", reason="the browser test drives Chromium "
                        "through the websockets package")
    return path


# The heading each page type shows; the run pages by the key of their run (conftest.runs).
HEADINGS = {"forecasting": "Forecasts", "phase": "Phases", "eeg": "EEG windows",
            "classification": "Classified cases", "eeg_pretrain": "Pre-training",
            "anomaly": "Anomalies"}


def test_every_page_renders(chromium: str, runs_dir: Path, runs: dict[str, Path],
                            tmp_path: Path) -> None:
    pages = {
        "overview": ("", "Runs"),
        **{key: (f"?run={runs[key].name}", heading) for key, heading in HEADINGS.items()},
        "compare": (f"?page=compare&compare={runs['forecasting'].name},{runs['phase'].name}",
                    "Compare runs"),
    }
    with browser.serve(runs_dir) as url, browser.Chromium(chromium, (1200, 1000)) as page:
        for name, (query, heading) in pages.items():
            page.open(f"{url}/{query}")
            dom = page.dom()
            assert not browser.exception_shown(dom), name
            assert heading in dom, name
            assert "stVegaLiteChart" in dom or name == "overview", name
            shot = Image.open(page.screenshot(tmp_path / f"{name}.png")).convert("L")
            assert shot.size == (1200, 1000)
            low, high = shot.getextrema()
            assert high - low > 100, f"{name}: blank screenshot"
            assert len(shot.getcolors(maxcolors=2**16) or range(2**16)) > 50, name

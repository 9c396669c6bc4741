"""Open the report page in headless Chromium and check the screenshot shows the figures.

Chromium comes from Debian's packages (scripts/install_chromium.sh). Without
it the test is skipped on a developer machine, and fails in CI (``CI`` set),
where it must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.operator.test_report import _report, backtest_json  # noqa: F401 (fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not installed but CI is set: run scripts/install_chromium.sh",
            pytrace=False,
        )
    pytest.skip(
        "chromium not installed (scripts/install_chromium.sh); skipped outside CI",
        allow_module_level=True,
    )

WIDTH, HEIGHT = 1200, 4200
#: matplotlib's default colours: tab:blue (forecast, agents' profit), tab:orange (optimum).
TAB_BLUE = (31, 119, 180)
TAB_ORANGE = (255, 127, 14)


def screenshot(page: Path, out: Path, profile: Path) -> Path:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={out}",
        page.resolve().as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return out


def _count_colour(rgb: np.ndarray, colour: tuple[int, int, int], tol: int = 8) -> int:
    return int((np.abs(rgb - np.array(colour)) <= tol).all(axis=-1).sum())


@pytest.mark.slow
def test_page_renders_with_its_figures_in_chromium(backtest_json, tmp_path):  # noqa: F811
    from matplotlib.image import imread

    res = _report([backtest_json], tmp_path / "report")
    shot = screenshot(Path(res["html"]), tmp_path / "shot.png", tmp_path / "profile")
    img = imread(shot)
    assert img.shape[:2] == (HEIGHT, WIDTH)
    rgb = np.round(img[..., :3] * 255).astype(np.int16)
    non_white = (rgb < 245).any(axis=-1).mean()
    assert non_white > 0.05, "the screenshot is (nearly) blank"
    colours = np.unique(rgb.reshape(-1, 3), axis=0).shape[0]
    assert colours > 200, f"only {colours} colours: the figures did not render"
    # The page's own CSS has no matplotlib colours: these pixels are the PNGs.
    assert _count_colour(rgb, TAB_BLUE) > 300
    assert _count_colour(rgb, TAB_ORANGE) > 50


@pytest.mark.slow
def test_page_without_figures_has_no_matplotlib_colours(tmp_path):
    """The control for the test above: the same page with no PNGs has no plot colours."""
    from matplotlib.image import imread

    from vpp.report import ReportData, write_report

    res = write_report(ReportData(sources=["empty"], summary={"events": 0}), tmp_path / "r")
    assert res.images == {}
    shot = screenshot(res.html, tmp_path / "shot.png", tmp_path / "profile")
    rgb = np.round(imread(shot)[..., :3] * 255).astype(np.int16)
    assert _count_colour(rgb, TAB_BLUE) == 0 and _count_colour(rgb, TAB_ORANGE) == 0

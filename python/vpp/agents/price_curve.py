"""The price curve learnt from history: price as a function of net load and
renewable share, tabulated for cheap evaluation.

A fundamental forecaster evaluates the curve at thousands of scenario points
per hour (every horizon hour times every wind and solar node). XGBoost
predicts each point through every tree; a table of the fitted curve on a
fine grid, read by bilinear interpolation, gives the same values (the trees
are piecewise constant, the grid is finer than their splits where the data
are) at the cost of two binary searches per point.
"""

from __future__ import annotations

import numpy as np

from vpp.errors import ParameterError

__all__ = ["PriceCurve", "curve_features"]

#: Grid points along net load and along renewable share.
NET_POINTS = 256
SHARE_POINTS = 128


def curve_features(load: np.ndarray, solar: np.ndarray, wind: np.ndarray) -> np.ndarray:
    """(n, 2) net load (MW) and renewable share of load of each point."""
    renewable = solar + wind
    return np.column_stack([load - renewable, renewable / np.maximum(load, 1e-9)])


class PriceCurve:
    """``price = G(net load, renewable share)``, monotone, fitted by XGBoost.

    Args:
        x: (n, 2) features from :func:`curve_features`.
        y: (n,) prices.
        rng: Picks the ``max_rows`` events each fit uses.
        max_rows: Events sampled for the fit.
        seed: XGBoost's seed.
        n_jobs: Threads XGBoost uses.

    Raises:
        ParameterError: Fewer than 2 usable events.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
        *,
        max_rows: int = 100_000,
        seed: int = 0,
        n_jobs: int = 2,
    ) -> None:
        import xgboost as xgb

        ok = np.flatnonzero(np.isfinite(x).all(axis=1) & np.isfinite(y))
        if ok.size < 2:
            raise ParameterError(
                "invalid parameter: price curve: needs 2 events with a finite price, load, "
                f"solar and wind, got {ok.size}"
            )
        if ok.size > max_rows:
            ok = rng.choice(ok, max_rows, replace=False)
        params = {
            "max_depth": 6,
            "eta": 0.1,
            "min_child_weight": 5,
            "tree_method": "hist",
            "nthread": n_jobs,
            "seed": seed,
            # Dearer with net load, cheaper with the renewable share.
            "monotone_constraints": "(1,-1)",
        }
        booster = xgb.train(params, xgb.DMatrix(x[ok], label=y[ok]), num_boost_round=200)
        lo, hi = np.min(x[ok], axis=0), np.max(x[ok], axis=0)
        self.net = np.linspace(lo[0], max(hi[0], lo[0] + 1e-6), NET_POINTS)
        self.share = np.linspace(lo[1], max(hi[1], lo[1] + 1e-6), SHARE_POINTS)
        grid = np.column_stack([np.repeat(self.net, SHARE_POINTS), np.tile(self.share, NET_POINTS)])
        self.table = booster.predict(xgb.DMatrix(grid)).reshape(NET_POINTS, SHARE_POINTS)

    @classmethod
    def from_table(cls, net: np.ndarray, share: np.ndarray, table: np.ndarray) -> PriceCurve:
        """A curve from its grid and table (as a snapshot keeps it).

        Raises:
            ParameterError: Axes that are not increasing or a table of another shape.
        """
        net, share = np.asarray(net, dtype=np.float64), np.asarray(share, dtype=np.float64)
        table = np.asarray(table, dtype=np.float64)
        if (
            net.ndim != 1
            or share.ndim != 1
            or net.size < 2
            or share.size < 2
            or np.any(np.diff(net) <= 0)
            or np.any(np.diff(share) <= 0)
            or table.shape != (net.size, share.size)
        ):
            raise ParameterError(
                f"invalid parameter: price curve: a table of shape {table.shape} on axes of "
                f"{net.size} and {share.size} increasing points is not a curve"
            )
        curve = cls.__new__(cls)
        curve.net, curve.share, curve.table = net, share, table
        return curve

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Prices at (n, 2) feature points; flat beyond the history's range."""
        i, a = _cell(self.net, x[:, 0])
        j, b = _cell(self.share, x[:, 1])
        t = self.table
        return (1 - a) * ((1 - b) * t[i, j] + b * t[i, j + 1]) + a * (
            (1 - b) * t[i + 1, j] + b * t[i + 1, j + 1]
        )


def _cell(axis: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower grid index and the fraction of the way to the next, clamped."""
    v = np.clip(v, axis[0], axis[-1])
    i = np.clip(np.searchsorted(axis, v, side="right") - 1, 0, axis.size - 2)
    return i, (v - axis[i]) / (axis[i + 1] - axis[i])

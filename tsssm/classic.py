"""Classic (non-deep) baselines as scikit-learn pipelines, for benchmarks and recipes.

- Time-series classification: MiniRocket (Dempster et al., KDD 2021) features + ridge
  regression with a cross-validated penalty, when aeon is installed; 1-nearest-neighbour with
  Euclidean distance (scikit-learn only) or DTW (aeon) otherwise.
- EEG windows: log band power per channel and band (Welch's method) + standardisation +
  logistic regression.

Every classifier takes ``X`` [n_cases, n_chans, n_times] (float) and labels ``y`` [n_cases],
and supports ``fit``/``predict``/``score``/``get_params``/``clone``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import welch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression, RidgeClassifierCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from .data.timeseries_packages import import_aeon

ClassifierKind = Literal["auto", "minirocket", "1nn-euclidean", "1nn-dtw"]

# Conventional EEG bands in Hz, [low, high). Gamma stops at 45 Hz, below mains noise.
EEG_BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}


def time_series_classifier(
    kind: ClassifierKind = "auto", random_state: int | None = None
) -> BaseEstimator:
    """A classic time-series classifier; ``"auto"`` is MiniRocket with aeon, else 1-NN Euclidean.

    Raises:
        ValueError: an unknown ``kind``.
        ImportError: ``"minirocket"`` or ``"1nn-dtw"`` without aeon.
    """
    if kind == "auto":
        kind = "minirocket" if _has_aeon() else "1nn-euclidean"
    if kind == "minirocket":
        return minirocket_classifier(random_state=random_state)
    if kind == "1nn-euclidean":
        return nearest_neighbor_classifier()
    if kind == "1nn-dtw":
        return dtw_nearest_neighbor_classifier()
    raise ValueError(f"kind must be one of {ClassifierKind.__args__}, got {kind!r}")


def minirocket_classifier(
    n_kernels: int = 10_000, random_state: int | None = None, n_jobs: int = 1
) -> Pipeline:
    """MiniRocket features, scaled, then ``RidgeClassifierCV`` (alphas 1e-3..1e3).

    The scaler only divides by the standard deviation (no centring), as aeon's own
    ``MiniRocketClassifier`` does; MiniRocket's features are proportions of positive values.

    Raises:
        ImportError: aeon is not installed.
    """
    convolution = import_aeon("aeon.transformations.collection.convolution_based", "MiniRocket")
    return Pipeline(
        [
            (
                "minirocket",
                convolution.MiniRocket(
                    n_kernels=n_kernels, n_jobs=n_jobs, random_state=random_state
                ),
            ),
            ("scale", StandardScaler(with_mean=False)),
            ("ridge", RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))),
        ]
    )


def nearest_neighbor_classifier() -> Pipeline:
    """1-nearest-neighbour with Euclidean distance over whole series (scikit-learn only).

    Series must share their length; channels are concatenated.
    """
    return Pipeline(
        [
            ("flatten", FunctionTransformer(flatten_series)),
            ("knn", KNeighborsClassifier(n_neighbors=1)),
        ]
    )


def dtw_nearest_neighbor_classifier(window: float = 0.1) -> BaseEstimator:
    """1-nearest-neighbour with dynamic time warping, warping window ``window`` (a fraction of
    the length; the UCR archive's common DTW baseline), from aeon.

    Raises:
        ImportError: aeon is not installed.
    """
    distance_based = import_aeon("aeon.classification.distance_based", "DTW 1-NN")
    return distance_based.KNeighborsTimeSeriesClassifier(
        n_neighbors=1, distance="dtw", distance_params={"window": window}
    )


def flatten_series(X: ArrayLike) -> np.ndarray:
    """[n_cases, n_chans, n_times] -> [n_cases, n_chans * n_times] (channel-major)."""
    array = _check_windows(X)
    return array.reshape(len(array), -1)


class BandPower(TransformerMixin, BaseEstimator):
    """Log band power of each channel in each frequency band, by Welch's method.

    ``X`` [n_windows, n_chans, n_times] -> features [n_windows, n_chans * n_bands], ordered
    channel-major (all bands of channel 0, then channel 1, ...). The power of a band is the
    Welch PSD summed over the frequency bins in ``[low, high)`` times the bin width; its log10
    (plus 1e-30, so a silent channel stays finite) is the feature.

    Args:
        sfreq: sampling frequency in Hz.
        bands: {name: (low, high)} in Hz; default :data:`EEG_BANDS`. Each band must lie below
            the Nyquist frequency and hold at least one frequency bin.
        window_seconds: Welch segment length in seconds (shortened to the window's length);
            the frequency resolution is 1 / segment length.
    """

    def __init__(
        self,
        sfreq: float,
        bands: Mapping[str, tuple[float, float]] | None = None,
        window_seconds: float = 2.0,
    ) -> None:
        self.sfreq = sfreq
        self.bands = bands
        self.window_seconds = window_seconds

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> BandPower:
        """Check ``X`` and the bands against ``sfreq`` and the window length; returns self."""
        array = _check_windows(X)
        if not self.sfreq > 0:
            raise ValueError(f"sfreq must be positive, got {self.sfreq}")
        self.n_chans_, self.n_times_ = array.shape[1:]
        self.nperseg_ = max(1, min(self.n_times_, round(self.window_seconds * self.sfreq)))
        freqs = np.fft.rfftfreq(self.nperseg_, 1 / self.sfreq)
        self.bands_ = dict(EEG_BANDS if self.bands is None else self.bands)
        nyquist = self.sfreq / 2
        for name, (low, high) in self.bands_.items():
            if not 0 <= low < high <= nyquist:
                raise ValueError(
                    f"band {name!r} ({low}, {high}) Hz must satisfy 0 <= low < high <= "
                    f"Nyquist {nyquist} Hz"
                )
            if not ((freqs >= low) & (freqs < high)).any():
                raise ValueError(
                    f"band {name!r} ({low}, {high}) Hz holds no frequency bin at resolution "
                    f"{freqs[1]:.3g} Hz; lengthen window_seconds or the windows"
                )
        self.n_features_in_ = self.n_chans_ * self.n_times_
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """[n_windows, n_chans, n_times] -> [n_windows, n_chans * n_bands] log10 powers."""
        check_is_fitted(self, "bands_")
        array = _check_windows(X)
        if array.shape[1:] != (self.n_chans_, self.n_times_):
            raise ValueError(
                f"X has {array.shape[1]} channels x {array.shape[2]} steps; fitted on "
                f"{self.n_chans_} x {self.n_times_}"
            )
        freqs, psd = welch(array, fs=self.sfreq, nperseg=self.nperseg_, axis=-1)  # [N, C, F]
        step = freqs[1] - freqs[0]
        powers = [
            psd[..., (freqs >= low) & (freqs < high)].sum(axis=-1) * step
            for low, high in self.bands_.values()
        ]
        return np.log10(np.stack(powers, axis=-1) + 1e-30).reshape(len(array), -1)

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """``ch{c}_{band}`` for each channel and band, in the order of the features."""
        check_is_fitted(self, "bands_")
        return np.array([f"ch{c}_{band}" for c in range(self.n_chans_) for band in self.bands_])


def band_power_classifier(
    sfreq: float,
    bands: Mapping[str, tuple[float, float]] | None = None,
    C: float = 1.0,
    window_seconds: float = 2.0,
) -> Pipeline:
    """:class:`BandPower` features, standardised, then L2 logistic regression (``C``).

    Takes EEG windows ``X`` [n_windows, n_chans, n_times] sampled at ``sfreq`` Hz.
    """
    return Pipeline(
        [
            ("bandpower", BandPower(sfreq, bands, window_seconds)),
            ("scale", StandardScaler()),
            ("logreg", LogisticRegression(C=C, max_iter=1000)),
        ]
    )


def _check_windows(X: ArrayLike) -> np.ndarray:
    """``X`` as float64 [n_cases, n_chans, n_times], finite, or a ValueError saying why."""
    array = np.asarray(X, dtype=np.float64)
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"X must be [n_cases, n_chans, n_times] (non-empty), got {array.shape}")
    if not np.isfinite(array).all():
        case = int(np.argwhere(~np.isfinite(array))[0][0])
        raise ValueError(f"X holds NaN or infinity (first in case {case}); impute or drop it")
    return array


def _has_aeon() -> bool:
    try:
        import_aeon("aeon", "MiniRocket")
    except ImportError:
        return False
    return True

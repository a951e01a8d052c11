"""EEG data on MNE: reading any format MNE reads (plus the Bonn text segments), a
preprocessing chain kept as data, lazy fixed-length windows with labels and metadata, splits
by subject, loaders of the bundled data sets (``datasets/eeg/``) and readers of the TUH
corpora FEMBA reports on (TUAB, TUAR, TUSL; :mod:`tsssm.data.eeg.tuh`).

Typical use::

    from tsssm.data.eeg import EEGWindows, load_mental_arithmetic, subject_split

    recordings = load_mental_arithmetic()
    windows = EEGWindows.from_recordings(recordings, window_s=4.0, stride_s=2.0,
                                         preprocessing=[{"step": "robust_scale"}])
    train, val, test = subject_split(windows, fractions=(0.5, 0.25, 0.25), seed=0)
    x, y = train[0]  # float32 [n_chans, n_times], int64 []
"""

from .bundled import (
    BONN_SETS,
    EEGMMIDB_EVENT_MAP,
    MENTAL_ARITHMETIC_CLASSES,
    load_bonn,
    load_eegmmidb,
    load_mental_arithmetic,
)
from .preprocessing import (
    FEMBA_BIOFOUNDATION,
    FEMBA_TUH,
    PRESETS,
    STEP_NAMES,
    TCP_PAIRS,
    Preprocessing,
    Preset,
    Step,
    preset,
)
from .reading import (
    BAD_CHANNEL_CHOICES,
    BONN_SFREQ,
    EEGRecording,
    WindowLabeller,
    find_bad_channels,
    handle_bad_channels,
    read_bonn_segment,
    read_raw,
    standard_channel_names,
)
from .splits import EEGSplit, check_subject_split, subject_split
from .tuh import (
    TUAB_CLASSES,
    TUAR_ARTIFACT_TYPES,
    TUAR_MODES,
    TUSL_CLASSES,
    TUARLabels,
    TUHEvent,
    TUSLLabels,
    load_tuab,
    load_tuar,
    load_tusl,
    read_tuh_csv,
)
from .windows import UNLABELLED, EEGWindows

__all__ = [
    "BAD_CHANNEL_CHOICES",
    "BONN_SETS",
    "BONN_SFREQ",
    "EEGMMIDB_EVENT_MAP",
    "FEMBA_BIOFOUNDATION",
    "FEMBA_TUH",
    "MENTAL_ARITHMETIC_CLASSES",
    "PRESETS",
    "STEP_NAMES",
    "TCP_PAIRS",
    "TUAB_CLASSES",
    "TUAR_ARTIFACT_TYPES",
    "TUAR_MODES",
    "TUSL_CLASSES",
    "UNLABELLED",
    "EEGRecording",
    "EEGSplit",
    "EEGWindows",
    "Preprocessing",
    "Preset",
    "Step",
    "TUARLabels",
    "TUHEvent",
    "TUSLLabels",
    "WindowLabeller",
    "check_subject_split",
    "find_bad_channels",
    "handle_bad_channels",
    "load_bonn",
    "load_eegmmidb",
    "load_mental_arithmetic",
    "load_tuab",
    "load_tuar",
    "load_tusl",
    "preset",
    "read_bonn_segment",
    "read_raw",
    "read_tuh_csv",
    "standard_channel_names",
    "subject_split",
]

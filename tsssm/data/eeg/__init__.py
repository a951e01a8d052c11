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

from tsssm._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "BONN_SETS": ".bundled",
    "EEGMMIDB_EVENT_MAP": ".bundled",
    "MENTAL_ARITHMETIC_CLASSES": ".bundled",
    "load_bonn": ".bundled",
    "load_eegmmidb": ".bundled",
    "load_mental_arithmetic": ".bundled",
    "FEMBA_BIOFOUNDATION": ".preprocessing",
    "FEMBA_TUH": ".preprocessing",
    "PRESETS": ".preprocessing",
    "STEP_NAMES": ".preprocessing",
    "TCP_PAIRS": ".preprocessing",
    "Preprocessing": ".preprocessing",
    "Preset": ".preprocessing",
    "Step": ".preprocessing",
    "preset": ".preprocessing",
    "BAD_CHANNEL_CHOICES": ".reading",
    "BONN_SFREQ": ".reading",
    "EEGRecording": ".reading",
    "WindowLabeller": ".reading",
    "find_bad_channels": ".reading",
    "handle_bad_channels": ".reading",
    "read_bonn_segment": ".reading",
    "read_raw": ".reading",
    "standard_channel_names": ".reading",
    "EEGSplit": ".splits",
    "check_subject_split": ".splits",
    "subject_split": ".splits",
    "TUAB_CLASSES": ".tuh",
    "TUAR_ARTIFACT_TYPES": ".tuh",
    "TUAR_MODES": ".tuh",
    "TUSL_CLASSES": ".tuh",
    "TUARLabels": ".tuh",
    "TUHEvent": ".tuh",
    "TUSLLabels": ".tuh",
    "load_tuab": ".tuh",
    "load_tuar": ".tuh",
    "load_tusl": ".tuh",
    "read_tuh_csv": ".tuh",
    "UNLABELLED": ".windows",
    "EEGWindows": ".windows",
})

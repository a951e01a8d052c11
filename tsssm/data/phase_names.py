"""The label names of the bundled phase-recognition data sets, in label order (no imports:
readers such as the app use them without loading the data stack)."""

# Cholec80 (Twinanda et al., EndoNet, 2017): the seven surgical phases.
CHOLEC80_PHASES = (
    "Preparation",
    "CalotTriangleDissection",
    "ClippingCutting",
    "GallbladderDissection",
    "GallbladderPackaging",
    "CleaningCoagulation",
    "GallbladderRetraction",
)

# Sleep-EDF staged by AASM: wake, N1-N3 (R&K stages 3 and 4 merged), REM.
SLEEP_STAGES = ("W", "N1", "N2", "N3", "REM")

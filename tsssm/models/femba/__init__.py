"""FEMBA (Tegon et al., "FEMBA: Efficient and Scalable EEG Analysis with a Bidirectional Mamba
Foundation Model", 2025): an EEG encoder of patch tokens over channels × time and
bidirectional Mamba blocks, pre-trained by masked-patch reconstruction (``femba_pretrain``)
and fine-tuned as a window classifier (``femba``, ``femba_mamba_head``); the checkpoints
BioFoundation releases load with :func:`load_biofoundation`.
"""

from .biofoundation import (
    BIOFOUNDATION_INPUT_QUARTILES,
    biofoundation_config,
    biofoundation_input_scaling,
    biofoundation_options,
    load_biofoundation,
)
from .checkpoints import is_biofoundation, read_state_dict
from .classification import (
    FEMBA,
    FEMBAClassifierModel,
    FEMBAMambaHead,
    LinearHead,
    MambaHead,
    load_pretrained_encoder,
)
from .config import (
    BIOFOUNDATION_ARCHITECTURE,
    FEMBA_PRESETS,
    FEMBAConfig,
    FEMBAEncoderConfig,
    FEMBAMambaHeadConfig,
    FEMBAOptions,
    FEMBAPretrainConfig,
    femba_preset,
)
from .encoder import BiMambaBlock, FEMBAEncoder, FEMBAStreamState
from .pretraining import (
    ConvDecoder,
    FEMBAPretrain,
    FEMBAReconstructor,
    masked_reconstruction_loss,
)

__all__ = [
    "BIOFOUNDATION_ARCHITECTURE",
    "BIOFOUNDATION_INPUT_QUARTILES",
    "FEMBA",
    "FEMBA_PRESETS",
    "BiMambaBlock",
    "ConvDecoder",
    "FEMBAClassifierModel",
    "FEMBAConfig",
    "FEMBAEncoder",
    "FEMBAEncoderConfig",
    "FEMBAMambaHead",
    "FEMBAMambaHeadConfig",
    "FEMBAOptions",
    "FEMBAPretrain",
    "FEMBAPretrainConfig",
    "FEMBAReconstructor",
    "FEMBAStreamState",
    "LinearHead",
    "MambaHead",
    "biofoundation_config",
    "biofoundation_input_scaling",
    "biofoundation_options",
    "femba_preset",
    "is_biofoundation",
    "load_biofoundation",
    "load_pretrained_encoder",
    "masked_reconstruction_loss",
    "read_state_dict",
]

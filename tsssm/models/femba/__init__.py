"""FEMBA (Tegon et al., "FEMBA: Efficient and Scalable EEG Analysis with a Bidirectional Mamba
Foundation Model", 2025): an EEG encoder of patch tokens over channels × time and
bidirectional Mamba blocks, pre-trained by masked-patch reconstruction (``femba_pretrain``)
and fine-tuned as a window classifier (``femba``, ``femba_mamba_head``).
"""

from .classification import (
    FEMBA,
    FEMBAClassifierModel,
    FEMBAMambaHead,
    LinearHead,
    MambaHead,
    load_pretrained_encoder,
)
from .config import (
    FEMBA_PRESETS,
    FEMBAConfig,
    FEMBAEncoderConfig,
    FEMBAMambaHeadConfig,
    FEMBAOptions,
    FEMBAPretrainConfig,
    femba_preset,
)
from .encoder import BiMambaBlock, FEMBAEncoder, FEMBAStreamState
from .pretraining import FEMBAPretrain, masked_reconstruction_loss

__all__ = [
    "FEMBA",
    "FEMBA_PRESETS",
    "BiMambaBlock",
    "FEMBAClassifierModel",
    "FEMBAConfig",
    "FEMBAEncoder",
    "FEMBAEncoderConfig",
    "FEMBAMambaHead",
    "FEMBAMambaHeadConfig",
    "FEMBAOptions",
    "FEMBAPretrain",
    "FEMBAPretrainConfig",
    "FEMBAStreamState",
    "LinearHead",
    "MambaHead",
    "femba_preset",
    "load_pretrained_encoder",
    "masked_reconstruction_loss",
]

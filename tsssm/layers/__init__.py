"""Neural-network layers shared by tsssm's models. Imports only tsssm.kernels."""

from .bidirectional import BiMamba
from .dropout import Dropout
from .mamba import MambaMixer, MambaStreamState
from .patching import PatchEmbed2d
from .quantile import QuantileOutput, median_index
from .revin import RevIN
from .ssm2d import SSM2D, SelectiveSSM2D

__all__ = [
    "SSM2D",
    "BiMamba",
    "Dropout",
    "MambaMixer",
    "MambaStreamState",
    "PatchEmbed2d",
    "QuantileOutput",
    "RevIN",
    "SelectiveSSM2D",
    "median_index",
]

"""Neural-network layers shared by tsssm's models. Imports only tsssm.kernels."""

from .bidirectional import BiMamba
from .mamba import MambaMixer, MambaStreamState
from .revin import RevIN

__all__ = ["BiMamba", "MambaMixer", "MambaStreamState", "RevIN"]

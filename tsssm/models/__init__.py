"""tsssm's model families, all registered in one registry (``create_model``, ``list_models``)."""

from ._registry import create_model, list_models, model_entry, register_model
from .baselines import DLinear, DLinearConfig, ITransformer, ITransformerConfig
from .smamba import SMamba, SMambaConfig

__all__ = [
    "DLinear",
    "DLinearConfig",
    "ITransformer",
    "ITransformerConfig",
    "SMamba",
    "SMambaConfig",
    "create_model",
    "list_models",
    "model_entry",
    "register_model",
]

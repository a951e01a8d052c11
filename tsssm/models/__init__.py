"""tsssm's model families, all registered in one registry (``create_model``, ``list_models``)."""

from ._registry import create_model, list_models, model_entry, register_model
from .baselines import DLinear, DLinearConfig, ITransformer, ITransformerConfig
from .phase import (
    GlobalRelationBlock,
    LocalAggregationBlock,
    PhaseMLP,
    PhaseMLPConfig,
    PhaseModel,
    PhaseShape,
    PhaseSSM,
    PhaseSSMConfig,
    PhaseStreamState,
    PhaseTCN,
    PhaseTCNConfig,
    length_mask,
    phase_loss,
)
from .smamba import SMamba, SMambaConfig

__all__ = [
    "DLinear",
    "DLinearConfig",
    "GlobalRelationBlock",
    "ITransformer",
    "ITransformerConfig",
    "LocalAggregationBlock",
    "PhaseMLP",
    "PhaseMLPConfig",
    "PhaseModel",
    "PhaseSSM",
    "PhaseSSMConfig",
    "PhaseShape",
    "PhaseStreamState",
    "PhaseTCN",
    "PhaseTCNConfig",
    "SMamba",
    "SMambaConfig",
    "create_model",
    "length_mask",
    "list_models",
    "model_entry",
    "phase_loss",
    "register_model",
]

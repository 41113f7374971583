"""The neural network: model, checkpoints, board symmetries and the search's evaluator."""

from crowdzero.net.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from crowdzero.net.evaluator import TorchEvaluator, load_evaluator
from crowdzero.net.model import NetConfig, NetOutput, PolicyValueNet

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "NetConfig",
    "NetOutput",
    "PolicyValueNet",
    "TorchEvaluator",
    "load_checkpoint",
    "load_evaluator",
    "save_checkpoint",
]

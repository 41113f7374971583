"""The policy/value network: a residual tower with policy, value and ownership heads.

Shapes (B = batch, C = 2*history+1 input planes, N = board size):
    input          float32 [B, C, N, N]   (the feature planes of ``Position.features``)
    policy_logits  float32 [B, N*N+1]     (points in flat order ``row * N + col``, pass last)
    value          float32 [B]            (tanh, the side to move's expected outcome)
    ownership      float32 [B, N*N] | None (tanh, +1 = the side to move owns the point)

Every weight is independent of N: the point logits and the ownership map come from 1x1
convolutions, and the pass logit and the value come from global pooling (mean and max over
the board, as in KataGo). The board size is still part of ``NetConfig`` because a net is
trained for one size and the checkpoint refuses to be used on another.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

MIN_BOARD_SIZE = 5
MAX_BOARD_SIZE = 19


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to rebuild a ``PolicyValueNet`` with the same weight shapes."""

    board_size: int = 9
    history: int = 4
    blocks: int = 6
    channels: int = 64
    ownership_head: bool = True
    policy_channels: int = 32
    value_channels: int = 32
    value_hidden: int = 64

    def __post_init__(self) -> None:
        if not MIN_BOARD_SIZE <= self.board_size <= MAX_BOARD_SIZE:
            raise ValueError(
                f"board size {self.board_size} is outside {MIN_BOARD_SIZE}..{MAX_BOARD_SIZE}"
            )
        if self.history < 1:
            raise ValueError(f"history must be at least 1, not {self.history}")
        if self.blocks < 0:
            raise ValueError(f"blocks must be 0 or more, not {self.blocks}")
        for name in ("channels", "policy_channels", "value_channels", "value_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")

    @property
    def input_planes(self) -> int:
        """Feature planes per position: own and opponent stones for each step, plus colour."""
        return 2 * self.history + 1

    @property
    def num_points(self) -> int:
        return self.board_size * self.board_size

    @property
    def num_actions(self) -> int:
        """Policy length: every point plus pass."""
        return self.num_points + 1

    def to_dict(self) -> dict[str, int | bool]:
        """Plain types only, so a checkpoint can be read with ``weights_only=True``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetConfig:
        """Rebuild from ``to_dict`` output; raises ValueError naming any unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown network config keys: {', '.join(unknown)}")
        return cls(**data)

    def describe(self) -> str:
        """Short human label, e.g. '6x64 on 9x9'."""
        return f"{self.blocks}x{self.channels} on {self.board_size}x{self.board_size}"


class NetOutput(NamedTuple):
    """What ``PolicyValueNet.forward`` returns (a tuple, so torch.compile traces it)."""

    policy_logits: torch.Tensor  # [B, N*N+1]
    value: torch.Tensor  # [B]
    ownership: torch.Tensor | None  # [B, N*N]


class ConvBN(nn.Module):
    """Convolution then batch norm; ``fuse`` folds the norm into the convolution.

    The convolution has no bias because the norm's shift plays that role during training.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the (eval-mode) batch norm into the convolution weights and bias.

        Only valid for inference: afterwards the running statistics are baked in.
        """
        bn = self.bn
        if not isinstance(bn, nn.BatchNorm2d):
            return  # already fused
        assert bn.running_var is not None and bn.running_mean is not None
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv = self.conv
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,  # type: ignore[arg-type]
            padding=conv.padding,  # type: ignore[arg-type]
            bias=True,
        )
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        assert fused.bias is not None
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv = fused
        self.bn = nn.Identity()


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the skip connection, then ReLU (AlphaZero's block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.first = ConvBN(channels, channels, 3)
        self.second = ConvBN(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.first(x))
        return F.relu(x + self.second(y))


def _global_pool(x: torch.Tensor) -> torch.Tensor:
    """[B, C, N, N] -> [B, 2C]: mean and max over the board.

    Mean says "how much", max says "is there any"; together they let a 1x1-conv feature map
    answer board-wide questions (should I pass? who is winning?) without size-specific weights.
    """
    return torch.cat((x.mean(dim=(2, 3)), x.amax(dim=(2, 3))), dim=1)


class PolicyValueNet(nn.Module):
    """AlphaZero's residual policy/value network with a KataGo-style ownership head."""

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else NetConfig()
        # True for the copy ``fused`` returns: its weights no longer match the config.
        self.inference_only = False
        c = self.config
        self.stem = ConvBN(c.input_planes, c.channels, 3)
        self.tower = nn.Sequential(*(ResidualBlock(c.channels) for _ in range(c.blocks)))

        self.policy_conv = ConvBN(c.channels, c.policy_channels, 1)
        self.policy_points = nn.Conv2d(c.policy_channels, 1, 1)
        self.policy_pass = nn.Linear(2 * c.policy_channels, 1)

        self.value_conv = ConvBN(c.channels, c.value_channels, 1)
        self.value_hidden = nn.Linear(2 * c.value_channels, c.value_hidden)
        self.value_out = nn.Linear(c.value_hidden, 1)
        # The ownership map shares the value head's features: both ask "who gets what".
        self.ownership: nn.Module | None = (
            nn.Conv2d(c.value_channels, 1, 1) if c.ownership_head else None
        )

    def forward(self, x: torch.Tensor) -> NetOutput:
        """x: float32 [B, 2*history+1, N, N] -> NetOutput (see the module docstring)."""
        if x.dim() != 4 or x.shape[1] != self.config.input_planes:
            raise ValueError(
                f"expected input [B, {self.config.input_planes}, N, N], got {list(x.shape)}"
            )
        h = self.tower(F.relu(self.stem(x)))

        p = F.relu(self.policy_conv(h))
        point_logits = self.policy_points(p).flatten(1)  # [B, N*N]
        pass_logit = self.policy_pass(_global_pool(p))  # [B, 1]
        policy_logits = torch.cat((point_logits, pass_logit), dim=1)

        v = F.relu(self.value_conv(h))
        value = torch.tanh(self.value_out(F.relu(self.value_hidden(_global_pool(v))))).squeeze(1)
        ownership = torch.tanh(self.ownership(v).flatten(1)) if self.ownership is not None else None
        return NetOutput(policy_logits, value, ownership)

    def fused(self) -> PolicyValueNet:
        """An eval-mode copy with every batch norm folded into its convolution.

        Same outputs as ``self.eval()`` (up to float rounding), fewer ops per call; the copy
        cannot be trained or saved as a checkpoint (its weights no longer match the config).
        """
        net = copy.deepcopy(self).eval()
        net.inference_only = True
        for module in net.modules():
            if isinstance(module, ConvBN):
                module.fuse()
        return net

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

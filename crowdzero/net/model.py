"""The policy/value network: a residual tower with policy, value and auxiliary heads.

Shapes (B = batch, C = ``NetConfig.input_planes`` = ``NetConfig.features.planes``,
N = board size):
    input                   float32 [B, C, N, N]    the planes of ``batch_features(positions,
                                                    config.features)``: 2*history+1, plus 7
                                                    liberty and ko planes when
                                                    ``liberty_features``, plus 6 advice
                                                    planes when ``advice_planes``
    policy_logits           float32 [B, N*N+1]      points in flat order ``row * N + col``,
                                                    pass last
    value                   float32 [B]             tanh, the side to move's expected outcome
    ownership               float32 [B, N*N] | None tanh, +1 = the side to move owns the point
                                                    (``ownership_head``)
    score                   float32 [B] | None      the final Tromp-Taylor area margin, komi
                                                    included, from the side to move's view,
                                                    divided by ``score_scale`` = N*N (linear,
                                                    no squashing) (``score_head``)
    opponent_policy_logits  float32 [B, N*N+1] | None  the move the opponent plays in reply to
                                                    the side to move's move, same layout as
                                                    the policy (``opponent_policy_head``)

Every weight is independent of N: the point logits and the ownership map come from 1x1
convolutions, and the pass logit, the value and the score come from global pooling (mean
and max over the board, as in KataGo). With ``global_pooling`` some tower blocks also pool
the board and add the result as a per-channel bias (KataGo's global pooling bias), so
board-wide facts (a ko threat elsewhere, who is ahead) reach every point. The board size
is still part of ``NetConfig`` because a net is trained for one size and the checkpoint
refuses to be used on another.

Checkpoints written before the liberty planes, global pooling and the auxiliary heads
existed store a config without those keys; ``NetConfig.from_dict`` reads a missing one as
off, so such a checkpoint rebuilds exactly the net it was trained as.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from crowdzero.config_fields import check_fields
from crowdzero.go.features import FeatureSpec

MIN_BOARD_SIZE = 5
MAX_BOARD_SIZE = 19


#: What a config key absent from a stored dict means: the behaviour of the checkpoints
#: written before the key existed. A new ``NetConfig()`` has all of these on.
LEGACY_DEFAULTS: dict[str, bool] = {
    "liberty_features": False,
    "global_pooling": False,
    "score_head": False,
    "opponent_policy_head": False,
    "advice_planes": False,
}

#: In a global pooling block, this fraction of the channels feeds the pooled bias.
GLOBAL_POOL_FRACTION = 4


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to rebuild a ``PolicyValueNet`` with the same weight shapes."""

    board_size: int = field(
        default=9,
        metadata={
            "doc": "Board size the network is built for; always equal to board.size.",
            "min": MIN_BOARD_SIZE,
            "max": MAX_BOARD_SIZE,
        },
    )
    history: int = field(
        default=4,
        metadata={
            "doc": "Past positions in the input planes (2*history+1 planes in all).",
            "min": 1,
        },
    )
    blocks: int = field(
        default=6,
        metadata={
            "doc": "Residual blocks in the tower (0 = heads straight on the input conv).",
            "min": 0,
        },
    )
    channels: int = field(
        default=64,
        metadata={
            "doc": "Channels of every residual block; cost grows with channels^2.",
            "min": 1,
        },
    )
    ownership_head: bool = field(
        default=True,
        metadata={"doc": "Predict who owns each point at the end (an auxiliary target)."},
    )
    policy_channels: int = field(
        default=32,
        metadata={"doc": "Channels of the 1x1 convolution feeding the policy head.", "min": 1},
    )
    value_channels: int = field(
        default=32,
        metadata={"doc": "Channels of the 1x1 convolution feeding the value head.", "min": 1},
    )
    value_hidden: int = field(
        default=64, metadata={"doc": "Width of the value head's hidden layer.", "min": 1}
    )
    liberty_features: bool = field(
        default=True,
        metadata={
            "doc": "Input planes for liberties (own and opponent stones in groups with 1, 2, "
            "3+ liberties) and the simple-ko point: 7 planes more."
        },
    )
    global_pooling: bool = field(
        default=True,
        metadata={
            "doc": "Blocks 2, 5, 8, ... of the tower pool the board (mean and max) into a "
            "per-channel bias (KataGo's global pooling), so board-wide facts reach every point."
        },
    )
    score_head: bool = field(
        default=True,
        metadata={
            "doc": "Predict the final area score margin (komi included) from the side to "
            "move's view, divided by the number of points (an auxiliary target)."
        },
    )
    opponent_policy_head: bool = field(
        default=True,
        metadata={
            "doc": "Predict the opponent's reply to the side to move's move (an auxiliary "
            "policy target)."
        },
    )

    advice_planes: bool = field(
        default=False,
        metadata={
            "doc": "Input planes for advice (the advised point, pass, and its source: "
            "helpful, opponent, random or human; crowdzero.go.features): 6 planes more. "
            "Off: the net never sees advice, the twin to compare an advice run with."
        },
    )

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def features(self) -> FeatureSpec:
        """The input planes this net reads; build them with ``batch_features(..., spec)``."""
        return FeatureSpec(
            history=self.history, liberties=self.liberty_features, advice=self.advice_planes
        )

    @property
    def input_planes(self) -> int:
        """Feature planes per position (``features.planes``)."""
        return self.features.planes

    @property
    def num_points(self) -> int:
        return self.board_size * self.board_size

    @property
    def num_actions(self) -> int:
        """Policy length: every point plus pass."""
        return self.num_points + 1

    @property
    def score_scale(self) -> float:
        """Points per unit of the score output: ``score = margin / score_scale``."""
        return float(self.num_points)

    def pools_globally(self, block: int) -> bool:
        """Whether tower block ``block`` (0-based) is a global pooling block: 1, 4, 7, ..."""
        return self.global_pooling and block % 3 == 1

    def to_dict(self) -> dict[str, int | bool]:
        """Plain types only, so a checkpoint can be read with ``weights_only=True``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetConfig:
        """Rebuild from ``to_dict`` output; raises ValueError naming any unknown key.

        A key of ``LEGACY_DEFAULTS`` that is missing takes its legacy value (off), so a
        config stored before the key existed rebuilds the net it described.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown network config keys: {', '.join(unknown)}")
        return cls(**{**LEGACY_DEFAULTS, **data})

    def describe(self) -> str:
        """Short human label, e.g. '6x64 on 9x9'."""
        return f"{self.blocks}x{self.channels} on {self.board_size}x{self.board_size}"


class NetOutput(NamedTuple):
    """What ``PolicyValueNet.forward`` returns (a tuple, so torch.compile traces it)."""

    policy_logits: torch.Tensor  # [B, N*N+1]
    value: torch.Tensor  # [B], tanh
    ownership: torch.Tensor | None  # [B, N*N], tanh; None without the ownership head
    score: torch.Tensor | None = None  # [B], area margin / N*N; None without the score head
    opponent_policy_logits: torch.Tensor | None = None  # [B, N*N+1]; None without the head


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


class GlobalPoolingBlock(ResidualBlock):
    """A residual block whose middle gets a per-channel bias from the whole board.

    A few channels (``pool_channels``) of their own 3x3 convolution are pooled (mean and
    max) and mapped to one bias per tower channel, added before the middle ReLU. This is
    KataGo's global pooling bias: a 3x3 tower needs many blocks to carry a fact across the
    board, a pooled bias carries it in one.
    """

    def __init__(self, channels: int, pool_channels: int) -> None:
        super().__init__(channels)
        self.pool_conv = ConvBN(channels, pool_channels, 3)
        self.pool_bias = nn.Linear(2 * pool_channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = F.relu(self.pool_conv(x))
        bias = self.pool_bias(_global_pool(g))[:, :, None, None]  # [B, C, 1, 1]
        y = F.relu(self.first(x) + bias)
        return F.relu(x + self.second(y))


class PolicyValueNet(nn.Module):
    """AlphaZero's residual policy/value network with KataGo-style auxiliary heads
    (ownership, score, the opponent's reply) and global pooling."""

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else NetConfig()
        # True for the copy ``fused`` returns: its weights no longer match the config.
        self.inference_only = False
        c = self.config
        self.stem = ConvBN(c.input_planes, c.channels, 3)
        pool_channels = max(1, c.channels // GLOBAL_POOL_FRACTION)
        self.tower = nn.Sequential(
            *(
                GlobalPoolingBlock(c.channels, pool_channels)
                if c.pools_globally(i)
                else ResidualBlock(c.channels)
                for i in range(c.blocks)
            )
        )

        self.policy_conv = ConvBN(c.channels, c.policy_channels, 1)
        self.policy_points = nn.Conv2d(c.policy_channels, 1, 1)
        self.policy_pass = nn.Linear(2 * c.policy_channels, 1)
        # The opponent's reply reads the policy head's features: both ask "where next".
        self.opponent_points: nn.Module | None = None
        self.opponent_pass: nn.Module | None = None
        if c.opponent_policy_head:
            self.opponent_points = nn.Conv2d(c.policy_channels, 1, 1)
            self.opponent_pass = nn.Linear(2 * c.policy_channels, 1)

        self.value_conv = ConvBN(c.channels, c.value_channels, 1)
        self.value_hidden = nn.Linear(2 * c.value_channels, c.value_hidden)
        self.value_out = nn.Linear(c.value_hidden, 1)
        # The score shares the value head's hidden layer: the margin and the outcome are
        # one judgement at two resolutions.
        self.score_out: nn.Module | None = nn.Linear(c.value_hidden, 1) if c.score_head else None
        # The ownership map shares the value head's features: both ask "who gets what".
        self.ownership: nn.Module | None = (
            nn.Conv2d(c.value_channels, 1, 1) if c.ownership_head else None
        )

    def forward(self, x: torch.Tensor) -> NetOutput:
        """x: float32 [B, C, N, N] -> NetOutput (see the module docstring)."""
        if x.dim() != 4 or x.shape[1] != self.config.input_planes:
            raise ValueError(
                f"expected input [B, {self.config.input_planes}, N, N], got {list(x.shape)}"
            )
        h = self.tower(F.relu(self.stem(x)))

        p = F.relu(self.policy_conv(h))
        p_pooled = _global_pool(p)
        point_logits = self.policy_points(p).flatten(1)  # [B, N*N]
        pass_logit = self.policy_pass(p_pooled)  # [B, 1]
        policy_logits = torch.cat((point_logits, pass_logit), dim=1)
        opponent_logits = None
        if self.opponent_points is not None and self.opponent_pass is not None:
            opponent_logits = torch.cat(
                (self.opponent_points(p).flatten(1), self.opponent_pass(p_pooled)), dim=1
            )

        v = F.relu(self.value_conv(h))
        hidden = F.relu(self.value_hidden(_global_pool(v)))
        value = torch.tanh(self.value_out(hidden)).squeeze(1)
        score = self.score_out(hidden).squeeze(1) if self.score_out is not None else None
        ownership = torch.tanh(self.ownership(v).flatten(1)) if self.ownership is not None else None
        return NetOutput(policy_logits, value, ownership, score, opponent_logits)

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

"""The AlphaZero loss and optimiser step.

Per row (every target from the view of the player to move):

    loss = policy_weight * cross-entropy(search target, policy)
         + MSE(outcome, value)
         + ownership_weight * MSE(final owner, ownership)      (KataGo's auxiliary targets)
         + score_weight * Huber(final margin / N*N, score)
         + opponent_policy_weight * cross-entropy(opponent's reply, opponent policy)

The policy term is averaged over the rows that carry a search target (the learning agent's
fully searched moves), so its size does not depend on how many rows have one; the other
terms over every row that has their target (ownership and score: not in resigned games).
Weight decay is decoupled (AdamW) and skips biases and batch-norm parameters, whose decay
only shrinks the scale batch norm restores. The learning rate warms up linearly and then
decays as 1/sqrt(1 + step / lr_decay_steps): open-ended runs need a schedule that does not
know the run's length.

The learner is the same in self-play and crowd mode: what differs is only which rows carry
a policy weight.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from crowdzero.net.model import PolicyValueNet
from crowdzero.train.replay import TrainingBatch

if TYPE_CHECKING:
    from crowdzero.train.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LossReport:
    """Mean losses of one optimiser step (floats, ready for the metrics file)."""

    total: float
    policy: float
    value: float
    ownership: float
    policy_entropy: float
    score: float = 0.0
    opponent_policy: float = 0.0
    learning_rate: float = 0.0
    target_entropy: float = 0.0  # mean entropy of the search targets in the batch
    policy_rows: float = 0.0  # share of rows with a search target
    mean_age: float = 0.0  # mean rows-since-added of the sampled rows


class Learner:
    """Owns the network being trained and its optimiser."""

    def __init__(
        self,
        model: PolicyValueNet,
        *,
        optimizer: str = "adamw",
        learning_rate: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        ownership_weight: float = 0.5,
        score_weight: float = 0.0,
        opponent_policy_weight: float = 0.0,
        lr_warmup_steps: int = 0,
        lr_decay_steps: int = 0,
        optimizer_state: dict | None = None,
        step: int = 0,
    ) -> None:
        self.model = model.train()
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for p in model.parameters():
            (decay if p.ndim > 1 else no_decay).append(p)
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        # AdamW is robust to the short runs of a 2-core machine (decoupled weight decay
        # plays the L2 term of the AlphaZero loss); SGD with momentum is the paper's choice.
        self.optimizer: torch.optim.Optimizer
        if optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(groups, lr=learning_rate)
        elif optimizer == "sgd":
            self.optimizer = torch.optim.SGD(
                groups, lr=learning_rate, momentum=momentum, nesterov=momentum > 0
            )
        else:
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', not {optimizer!r}")
        if optimizer_state is not None:
            self._load_optimizer_state(optimizer_state)
        self.base_learning_rate = learning_rate
        self.lr_warmup_steps = lr_warmup_steps
        self.lr_decay_steps = lr_decay_steps
        self.ownership_weight = ownership_weight
        self.score_weight = score_weight
        self.opponent_policy_weight = opponent_policy_weight
        self.step = step

    @classmethod
    def from_config(
        cls,
        model: PolicyValueNet,
        train: TrainConfig,
        *,
        optimizer_state: dict | None = None,
        step: int = 0,
    ) -> Learner:
        """The one place a learner is built from a run's settings; loss weights for heads
        the network does not have are 0."""
        net = model.config
        return cls(
            model,
            optimizer=train.optimizer,
            learning_rate=train.learning_rate,
            momentum=train.momentum,
            weight_decay=train.weight_decay,
            ownership_weight=train.ownership_weight if net.ownership_head else 0.0,
            score_weight=train.score_weight if net.score_head else 0.0,
            opponent_policy_weight=train.opponent_policy_weight
            if net.opponent_policy_head
            else 0.0,
            lr_warmup_steps=train.lr_warmup_steps,
            lr_decay_steps=train.lr_decay_steps,
            optimizer_state=optimizer_state,
            step=step,
        )

    def _load_optimizer_state(self, state: dict) -> None:
        """Resume moments and step counts; keep this config's hyper-parameters.

        A checkpoint from before weight decay skipped biases has one parameter group where
        this learner has two: its moments cannot be matched to parameters, so they start
        afresh (the weights themselves load as ever).
        """
        settings = [dict(g) for g in self.optimizer.param_groups]
        try:
            self.optimizer.load_state_dict(state)
        except ValueError as exc:
            log.warning("optimizer state not resumed (%s); moments start afresh", exc)
            return
        for group, mine in zip(self.optimizer.param_groups, settings, strict=True):
            group.update({k: v for k, v in mine.items() if k != "params"})

    def learning_rate_at(self, step: int) -> float:
        """Linear warm-up over lr_warmup_steps, then 1/sqrt decay with lr_decay_steps."""
        rate = self.base_learning_rate
        if self.lr_warmup_steps > 0 and step < self.lr_warmup_steps:
            rate *= (step + 1) / self.lr_warmup_steps
        if self.lr_decay_steps > 0:
            rate /= math.sqrt(1.0 + step / self.lr_decay_steps)
        return rate

    def train_step(self, batch: TrainingBatch) -> LossReport:
        self.model.train()
        rate = self.learning_rate_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        rows = batch.value.shape[0]
        ones = torch.ones(rows)
        x = torch.from_numpy(batch.features)
        target_policy = torch.from_numpy(batch.policy)
        policy_w = _weights(batch.policy_weight, ones)
        final_w = _weights(batch.ownership_weight, ones)
        out = self.model(x)

        log_p = F.log_softmax(out.policy_logits, dim=1)
        policy_ce = -(target_policy * log_p).sum(dim=1)
        policy_loss = (policy_w * policy_ce).sum() / policy_w.sum().clamp(min=1.0)
        value_loss = F.mse_loss(out.value, torch.from_numpy(batch.value))
        total = policy_loss + value_loss

        ownership_loss = torch.zeros(())
        if out.ownership is not None and self.ownership_weight > 0:
            per_row = ((out.ownership - torch.from_numpy(batch.ownership)) ** 2).mean(dim=1)
            ownership_loss = (final_w * per_row).sum() / final_w.sum().clamp(min=1.0)
            total = total + self.ownership_weight * ownership_loss

        score_loss = torch.zeros(())
        score_out = out.score
        if score_out is not None and self.score_weight > 0 and batch.score is not None:
            per_row = F.huber_loss(
                score_out, torch.from_numpy(batch.score), reduction="none", delta=0.5
            )
            score_loss = (final_w * per_row).sum() / final_w.sum().clamp(min=1.0)
            total = total + self.score_weight * score_loss

        opponent_loss = torch.zeros(())
        opponent_out = out.opponent_policy_logits
        if (
            opponent_out is not None
            and self.opponent_policy_weight > 0
            and batch.opponent_policy is not None
        ):
            reply_w = _weights(batch.opponent_weight, ones)
            log_q = F.log_softmax(opponent_out, dim=1)
            per_row = -(torch.from_numpy(batch.opponent_policy) * log_q).sum(dim=1)
            opponent_loss = (reply_w * per_row).sum() / reply_w.sum().clamp(min=1.0)
            total = total + self.opponent_policy_weight * opponent_loss

        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.step += 1
        with torch.no_grad():
            entropy = -(log_p.exp() * log_p).sum(dim=1).mean()
            with_target = policy_w > 0
            target_entropy = 0.0
            if bool(with_target.any()):
                t = target_policy[with_target]
                target_entropy = float(-(t * torch.log(t.clamp(min=1e-12))).sum(dim=1).mean())
        return LossReport(
            total=float(total.detach()),
            policy=float(policy_loss.detach()),
            value=float(value_loss.detach()),
            ownership=float(ownership_loss.detach()),
            policy_entropy=float(entropy),
            score=float(score_loss.detach()),
            opponent_policy=float(opponent_loss.detach()),
            learning_rate=rate,
            target_entropy=target_entropy,
            policy_rows=float(with_target.float().mean()),
            mean_age=float(batch.age.mean()) if batch.age is not None else 0.0,
        )


def _weights(weights: object, default: torch.Tensor) -> torch.Tensor:
    """Per-row weights as a tensor; a batch without them weighs every row 1."""
    if weights is None:
        return default
    return torch.as_tensor(weights, dtype=torch.float32)

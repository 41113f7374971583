"""The AlphaZero loss and optimiser step.

loss = cross-entropy(search target, policy) + MSE(outcome, value)
       + ownership_weight * MSE(final owner, ownership)      (KataGo's auxiliary target)
with L2 regularisation through the optimiser's weight decay. The learner is the same in
self-play and crowd mode: what differs is only which positions reach the replay window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from crowdzero.net.model import PolicyValueNet
from crowdzero.train.replay import TrainingBatch


@dataclass(frozen=True)
class LossReport:
    """Mean losses of one optimiser step (floats, ready for the metrics file)."""

    total: float
    policy: float
    value: float
    ownership: float
    policy_entropy: float


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
        optimizer_state: dict | None = None,
        step: int = 0,
    ) -> None:
        self.model = model.train()
        # AdamW is robust to the short runs of a 2-core machine (decoupled weight decay
        # plays the L2 term of the AlphaZero loss); SGD with momentum is the paper's choice.
        self.optimizer: torch.optim.Optimizer
        if optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(
                model.parameters(), lr=learning_rate, weight_decay=weight_decay
            )
        elif optimizer == "sgd":
            self.optimizer = torch.optim.SGD(
                model.parameters(),
                lr=learning_rate,
                momentum=momentum,
                nesterov=momentum > 0,
                weight_decay=weight_decay,
            )
        else:
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', not {optimizer!r}")
        if optimizer_state is not None:
            # The state (moments, step counts) resumes; the hyper-parameters are the
            # config's, which load_state_dict would otherwise overwrite with the old ones.
            settings = [dict(g) for g in self.optimizer.param_groups]
            self.optimizer.load_state_dict(optimizer_state)
            for group, mine in zip(self.optimizer.param_groups, settings, strict=True):
                group.update({k: v for k, v in mine.items() if k != "params"})
        self.ownership_weight = ownership_weight
        self.step = step

    def train_step(self, batch: TrainingBatch) -> LossReport:
        self.model.train()
        x = torch.from_numpy(batch.features)
        target_policy = torch.from_numpy(batch.policy)
        target_value = torch.from_numpy(batch.value)
        out = self.model(x)
        log_p = F.log_softmax(out.policy_logits, dim=1)
        policy_loss = -(target_policy * log_p).sum(dim=1).mean()
        value_loss = F.mse_loss(out.value, target_value)
        ownership_loss = torch.zeros(())
        if out.ownership is not None and self.ownership_weight > 0:
            ownership_loss = F.mse_loss(out.ownership, torch.from_numpy(batch.ownership))
        total = policy_loss + value_loss + self.ownership_weight * ownership_loss
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.step += 1
        with torch.no_grad():
            entropy = -(log_p.exp() * log_p).sum(dim=1).mean()
        return LossReport(
            total=float(total.detach()),
            policy=float(policy_loss.detach()),
            value=float(value_loss.detach()),
            ownership=float(ownership_loss.detach()),
            policy_entropy=float(entropy),
        )

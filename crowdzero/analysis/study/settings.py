"""What the study is asked to do: one frozen record, built once (by `crowdzero study` or
by hand) and read by every stage of `stages`.

The stages take this record instead of the options one by one, so a new setting (issue
#13 brings several) is one field here and a read in the stage that needs it, and
results.json records every setting without a second list to keep in step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crowdzero.analysis.study.imitation_agent import HOLDOUT_EVERY, FitPlan
from crowdzero.analysis.study.metrics import DEFAULT_THRESHOLD
from crowdzero.analysis.study.opponent_modelling import DEFAULT_MODEL_STEPS
from crowdzero.analysis.study.reference import BLUNDER_POINTS, BLUNDER_WINRATE, BlunderRule

#: Settings results.json leaves out: whether the imitation agent was retrained is
#: already there as ``imitation_training.reused``.
_NOT_RECORDED = frozenset({"retrain_imitation"})


@dataclass(frozen=True)
class StudySettings:
    """Every setting of one study. Paths and lists given as strings or lists are stored
    as `Path` and tuples, so the record stays hashable and equal to a rebuilt one.

    The field order is the key order of ``meta.settings`` in results.json.
    """

    #: The crowd-mode run whose newest checkpoint is the crowd agent.
    crowd_run: Path
    #: The self-mode run whose newest checkpoint is the self-play agent; None leaves it out.
    self_run: Path | None = None
    #: Folder for index.html, results.json, the figures, the study's games and baselines.
    out_dir: Path = Path("study")
    #: Evaluation games per pairing (agent vs member, held-out opponent or other agent).
    games: int = 20
    #: Cap on the imitation agent's training wall time (None: no cap).
    minutes_imitation: float | None = None
    #: The imitation agent's gradient steps (None: as many as the crowd run took).
    imitation_steps: int | None = None
    #: Crowd-member positions sampled for the imitation test.
    positions: int = 400
    #: Also score the noise-free search's choice in the imitation test (slower).
    search_choice: bool = False
    #: A move is out of the box when every focused member gives it less than this.
    threshold: float = DEFAULT_THRESHOLD
    #: Games per agent examined move by move for out-of-the-box play.
    box_games: int = 40
    #: Crowd file (or "default") to play against; None: the one the crowd run trained on.
    crowd: str | None = None
    #: Held-out opponents; None: the crowd file's ``[study] held_out`` list.
    held_out: tuple[str, ...] | None = None
    #: Also play every pair of agents against each other.
    head_to_head: bool = True
    #: One crowd game in this many (by store id) is kept out of baseline training.
    holdout_every: int = HOLDOUT_EVERY
    #: Torch threads for training and evaluation.
    threads: int = 2
    #: Evaluation games played at once.
    concurrency: int = 16
    #: Seed for sampling, training and play (each agent gets its own offset of it).
    seed: int = 0
    #: Train a new imitation agent even if `out_dir/imitation` holds one.
    retrain_imitation: bool = False
    #: Keep the imitation agent's weights every this many steps in
    #: OUT/imitation/snapshots/ (0: none), for its curve over training (`curves`).
    imitation_snapshot_every: int = 0
    #: Add the opponent-model agent (the crowd agent searching with member models).
    opponent_modelling: bool = False
    #: Gradient steps per member model.
    opponent_model_steps: int = DEFAULT_MODEL_STEPS
    #: Cap on each member model's training wall time (None: no cap).
    minutes_opponent_models: float | None = None
    #: Ask KataGo (when installed) to judge out-of-the-box moves and capped games.
    katago_reference: bool = True
    #: A move losing this many points of KataGo's score lead is a blunder.
    blunder_points: float = BLUNDER_POINTS
    #: A move losing this much of KataGo's win probability is a blunder.
    blunder_winrate: float = BLUNDER_WINRATE
    #: Member-vs-member games (a store, or the .jsonl.gz `scripts/record_twin_games.py`
    #: writes): positions for the search's top-1 agreement, and the crowd's half of
    #: primary claim 3. None: neither is measured.
    member_games: Path | None = None
    #: Positions of the member games each agent searches for the top-1 agreement.
    agreement_positions: int = 400

    def __post_init__(self) -> None:
        object.__setattr__(self, "crowd_run", Path(self.crowd_run))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.self_run is not None:
            object.__setattr__(self, "self_run", Path(self.self_run))
        if self.member_games is not None:
            object.__setattr__(self, "member_games", Path(self.member_games))
        if self.held_out is not None:
            object.__setattr__(self, "held_out", tuple(self.held_out))

    def blunder_rule(self) -> BlunderRule:
        """When KataGo calls a move a blunder (`reference.BlunderRule`)."""
        return BlunderRule(self.blunder_points, self.blunder_winrate)

    def imitation_plan(self) -> FitPlan:
        """How the imitation agent is trained (or found)."""
        plan = self._plan(self.imitation_steps, self.minutes_imitation, self.retrain_imitation)
        return dataclasses.replace(plan, snapshot_every=self.imitation_snapshot_every)

    def opponent_model_plan(self) -> FitPlan:
        """How each member model is trained (or found); they are never retrained."""
        return self._plan(self.opponent_model_steps, self.minutes_opponent_models, False)

    def _plan(self, steps: int | None, minutes: float | None, retrain: bool) -> FitPlan:
        return FitPlan(steps, minutes, self.seed, self.threads, self.holdout_every, retrain)

    def record(self, crowd: str, opponent_models: Mapping[str, Path]) -> dict[str, Any]:
        """``meta.settings`` of results.json: every setting as JSON would hold it, with the
        crowd file the study actually used and the member models it searched with."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name not in _NOT_RECORDED:
                out[f.name] = _plain(getattr(self, f.name))
        out["crowd"] = crowd
        out["opponent_models"] = {name: str(path) for name, path in opponent_models.items()}
        return out


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return value

"""Learned models of crowd members, and the study's fourth agent that searches with them.

The crowd agent never sees its opponents' policies: it only learns, from results, which
of its own moves work against them. Opponent-modelling search ("victim play", see
`crowdzero.search.opponent_model`) gives the same network an explicit model of the
member it faces and uses it at the member's nodes of the search tree. Comparing that
agent with the plain crowd agent asks two questions at once: does knowing the opponent
add to the score, and how much of that knowledge has the crowd agent already folded
into its own policy?

A member's model is the imitation agent's recipe restricted to one member
(`imitation_agent.build_member_window(member=...)`): supervised learning, one-hot
targets on the moves *that member* played in the crowd run's games, the crowd run's
`NetConfig` and training settings, a bounded number of steps. Only its policy is used.
The same held-out games as the imitation agent's stay out of training.

Checkpoints go to ``OUT/MEMBER/ckpt-*.pt`` (standard format, ``metadata.mode =
"opponent-model"``, ``metadata.member`` = the member's stored name) and are reused when
present, like the imitation agent's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from crowdzero.analysis.study.collect import StudyAgent, load_study_agent, spec_kind
from crowdzero.analysis.study.imitation_agent import (
    FitPlan,
    build_member_window,
    fit_to_window,
)
from crowdzero.net.checkpoint import (
    newest_loadable_checkpoint,
    save_checkpoint,
)
from crowdzero.net.evaluator import load_evaluator
from crowdzero.players.crowd import Crowd
from crowdzero.players.registry import make_player
from crowdzero.search.config import SearchConfig
from crowdzero.search.opponent_model import NetworkOpponentModel, OpponentModel
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import RunConfig

log = logging.getLogger(__name__)

#: Metadata "mode" of an opponent-model checkpoint.
OPPONENT_MODEL_MODE = "opponent-model"
#: The study's label for the opponent-modelling agent (its games: ``LABEL-agent@STEP``).
OPPONENT_MODEL_LABEL = "opponent-model"
#: Gradient steps per member model unless told otherwise: enough for a heuristic's
#: favourite shapes, small next to the crowd agent's own training.
DEFAULT_MODEL_STEPS = 300
#: Player kinds the study models by default: the heuristics (each has a planted flaw
#: worth steering into, and a policy a small net can learn).
MODELLED_KINDS = frozenset({"heuristic"})


class MemberModelError(RuntimeError):
    """A member's model cannot be trained (no games of that member in the store...)."""


def model_directory(out_dir: Path, member: str) -> Path:
    """Where `member`'s model lives under `out_dir` (the name made safe for a path)."""
    return out_dir / re.sub(r"[^A-Za-z0-9._-]+", "_", member)


def existing_opponent_model(directory: Path, member: str, board_size: int) -> Path | None:
    """The newest loadable model of `member` in `directory`, if any."""
    found = newest_loadable_checkpoint(
        directory,
        board_size=board_size,
        accept=lambda c: (
            c.metadata.get("mode") == OPPONENT_MODEL_MODE and c.metadata.get("member") == member
        ),
    )
    return None if found is None else found.path


def train_opponent_model(
    store: GameStore,
    member: str,
    config: RunConfig,
    out_dir: Path,
    plan: FitPlan,
) -> Path:
    """Train (or reuse) a policy network on `member`'s moves in `store`; returns the
    checkpoint path (``out_dir/MEMBER/ckpt-*.pt``).

    `member` is the player name the games carry (e.g. ``heuristic:greedy``). Positions
    enter only where that member was to move in an agent-vs-member game; games whose id is
    a multiple of `plan.holdout_every` stay out. `config` is the crowd run's: its network,
    and its optimiser, learning rate, batch size, window size and augmentation, so a model
    learns as the agent it stands beside did. Training stops after `plan.steps` gradient
    steps (default `DEFAULT_MODEL_STEPS`) or `plan.minutes`, whichever comes first.
    Raises MemberModelError when the store has none of the member's moves.
    """
    net, train = config.net, config.train
    steps = DEFAULT_MODEL_STEPS if plan.steps is None else plan.steps
    directory = model_directory(out_dir, member)
    found = None if plan.retrain else existing_opponent_model(directory, member, net.board_size)
    if found is not None:
        log.info("reusing the model of %s: %s", member, found)
        return found
    if steps < 1:
        raise MemberModelError(f"a model of {member} needs at least 1 step, not {steps}")
    window = build_member_window(
        store.iter_games(player=member),
        net.board_size,
        net.features,
        train.replay_window,
        holdout_every=plan.holdout_every,
        member=member,
    )
    if len(window) == 0:
        raise MemberModelError(
            f"{store.path} holds no moves of {member} against the agent to learn from"
        )
    fit = fit_to_window(window, net, train, replace(plan, steps=steps))
    path = directory / f"ckpt-{fit.learner.step:08d}.pt"
    save_checkpoint(
        path,
        fit.learner.model,
        step=fit.learner.step,
        metadata={
            "run": "opponent-model",
            "mode": OPPONENT_MODEL_MODE,
            "member": member,
            "store": str(store.path),
            "positions": len(window),
            "games": window.games_added,
            "seconds": fit.seconds,
            "target_steps": steps,
            "final_loss": fit.final_loss,
        },
    )
    log.info(
        "model of %s: %d steps on %d positions in %.0f s -> %s",
        member,
        fit.learner.step,
        len(window),
        fit.seconds,
        path,
    )
    return path


def modelled_members(crowd: str, kinds: Iterable[str] = MODELLED_KINDS) -> list[str]:
    """The stored player names of the crowd file's members of the given kinds."""
    wanted = set(kinds)
    listed = Crowd.load(crowd, build_players=False)
    names: list[str] = []
    for member in listed.members:
        if spec_kind(member.spec) in wanted:
            player = make_player(member.spec)
            try:
                if player.name not in names:
                    names.append(player.name)
            finally:
                player.close()
    return names


def load_opponent_model(checkpoint: str | Path, *, threads: int | None = 1) -> OpponentModel:
    """The learned model in `checkpoint` (its policy head; evaluated as given, no symmetry)."""
    return NetworkOpponentModel(load_evaluator(checkpoint, threads=threads))


def opponent_modelling_agent(
    checkpoint: str | Path,
    models: Mapping[str, str | Path | OpponentModel],
    search: SearchConfig,
    *,
    threads: int | None = 1,
    seed: int = 0,
) -> StudyAgent:
    """The agent in `checkpoint` with opponent-modelling search: against an opponent
    named in `models` (a checkpoint path or a ready model) the search takes that
    opponent's priors from the model; against anyone else it is the plain agent.
    `search` is the agent's own setting; opponent modelling is switched on here."""
    ready: dict[str, OpponentModel] = {
        name: model
        if isinstance(model, OpponentModel)
        else load_opponent_model(model, threads=threads)
        for name, model in models.items()
    }
    return load_study_agent(
        OPPONENT_MODEL_LABEL,
        Path(checkpoint),
        replace(search, opponent_model=True),
        threads=threads,
        seed=seed,
        opponent_models=ready,
    )

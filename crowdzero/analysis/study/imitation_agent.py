"""The imitation agent: the crowd agent's network trained to copy the crowd instead.

The study's claim is that the crowd-trained agent does not simply imitate its opponents.
To say "less than imitation" we need an agent that *does* imitate, built with the same
means: the same `NetConfig`, the same `Learner` (loss, optimiser, learning rate, batch
size, symmetry augmentation) and the same number of gradient steps (or wall time) as the
crowd run, trained by supervised learning on the crowd members' own moves from the crowd
run's game store:

* a position enters when a crowd member was to move in a crowd game (``agent_colour`` is
  BLACK or WHITE, the member holds the other seat); the agent's own positions never do;
* the policy target is the member's actual move, one-hot (a pass is a move; a
  resignation is not, it has no point);
* the value target is the game's outcome from the member's view, the ownership target
  the final area from the member's view, exactly as the `ReplayWindow` builds them.

The trick that lets us reuse the `ReplayWindow` unchanged: `member_targets` rewrites a
game so that member moves carry a one-hot "search target" and agent moves carry none;
the window then admits exactly the member positions (it only takes moves with a policy).

Games whose id is a multiple of `holdout_every` are kept out of training: the study
measures imitation on those, so the imitation agent is scored on positions it never saw.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.features import FeatureSpec
from crowdzero.net.checkpoint import (
    CheckpointError,
    load_checkpoint,
    newest_loadable_checkpoint,
    save_checkpoint,
)
from crowdzero.net.evaluator import set_torch_threads
from crowdzero.net.model import NetConfig, PolicyValueNet
from crowdzero.play.record import Game, Move
from crowdzero.train.config import TrainConfig
from crowdzero.train.learner import Learner, LossReport
from crowdzero.train.replay import ReplayWindow
from crowdzero.train.run_dir import RunDir

log = logging.getLogger(__name__)

#: One game in this many (by store id) is held out of imitation training for evaluation.
HOLDOUT_EVERY = 10
#: Metadata "mode" of an imitation checkpoint.
IMITATION_MODE = "imitation"
#: Metadata "mode" of the imitation agent's weights part-way through its training, kept
#: in OUT/imitation/snapshots/ (`FitPlan.snapshot_every`); never taken for the agent.
SNAPSHOT_MODE = "imitation-snapshot"
SNAPSHOTS = "snapshots"
#: Metadata "mode" of a fit's unfinished state (`fit_to_window`'s `progress` file).
PROGRESS_MODE = "fit-progress"
#: The imitation agent's unfinished state in OUT/imitation/.
IMITATION_PROGRESS = "unfinished.pt"
#: Wall seconds between two writes of a fit's unfinished state: a study stopped mid-fit
#: (a working session ends, the machine is lost) loses at most this much training.
PROGRESS_SECONDS = 120.0


class ImitationError(RuntimeError):
    """The imitation agent cannot be trained (no crowd games, wrong board size...)."""


def is_evaluation_game(game_id: int, holdout_every: int = HOLDOUT_EVERY) -> bool:
    """Is this stored game held out of imitation training (kept for evaluation)?"""
    return holdout_every > 0 and game_id % holdout_every == 0


def member_colour(game: Game) -> int:
    """The crowd member's colour in a crowd game, 0 for any other game (self-play, arena)."""
    if game.agent_colour in (BLACK, WHITE):
        return -game.agent_colour
    return 0


def member_targets(game: Game, member: str | None = None) -> Game | None:
    """`game` with a one-hot policy on every member move and none on the agent's moves.

    None for games that are not agent-vs-member (no member moves to learn from), and,
    when `member` names one crowd member, for games against any other member (an
    opponent model learns one member's moves only).
    """
    colour = member_colour(game)
    if colour == 0 or (member is not None and game.player(colour) != member):
        return None
    n = game.rules.size * game.rules.size + 1
    moves = []
    for move in game.moves:
        if move.colour == colour and move.point != RESIGN:
            target = [0.0] * n
            target[move.point] = 1.0
            moves.append(Move(move.colour, move.point, tuple(target), None, move.player))
        else:
            moves.append(Move(move.colour, move.point, None, None, move.player))
    return replace(game, moves=tuple(moves))


def build_member_window(
    games: Iterable[tuple[int, Game]],
    board_size: int,
    history: int | FeatureSpec,
    capacity: int,
    *,
    holdout_every: int = HOLDOUT_EVERY,
    member: str | None = None,
) -> ReplayWindow:
    """A `ReplayWindow` of member positions (newest `capacity` kept), evaluation games out;
    only the positions of `member` (a player name as stored) when given. ``history`` is
    the planes of the net to fit (``NetConfig.features``; see `ReplayWindow`)."""
    # Only rows with a target: the member's moves (`member_targets` gives no others one).
    window = ReplayWindow(board_size, history, capacity, rows="policy")
    for game_id, game in games:
        if is_evaluation_game(game_id, holdout_every) or game.rules.size != board_size:
            continue
        if game.result.strip().upper() == "VOID":
            continue
        rewritten = member_targets(game, member)
        if rewritten is not None:
            window.add_game(rewritten, game_id)
    return window


@dataclass(frozen=True)
class ImitationResult:
    """What was trained (or found) and with how much compute, next to the crowd run's."""

    checkpoint: str
    steps: int
    seconds: float
    target_steps: int
    target_seconds: float | None
    crowd_steps: int
    crowd_seconds: float | None
    positions: int
    games: int
    batch_size: int
    reused: bool
    final_loss: dict[str, float] | None = None


@dataclass(frozen=True)
class FitPlan:
    """How one of the study's baselines (the imitation agent, a member model) is fitted.

    One record instead of the same six options threaded through every training call;
    the study builds it from its settings (`StudySettings.imitation_plan`).
    """

    #: Gradient steps; None: the baseline's own default (the crowd run's step count for
    #: the imitation agent, `opponent_modelling.DEFAULT_MODEL_STEPS` for a member model).
    steps: int | None = None
    #: Wall-time cap in minutes (None: no cap); whichever of the two ends first stops.
    minutes: float | None = None
    seed: int = 0
    #: Torch threads while training.
    threads: int = 1
    #: Games whose store id is a multiple of this stay out of training (0: none do).
    holdout_every: int = HOLDOUT_EVERY
    #: Train anew even when a checkpoint of this baseline is already there.
    retrain: bool = False
    #: Also keep the weights every this many steps (0: only the final ones), for the
    #: imitation agent's curve over its own training (`curves`).
    snapshot_every: int = 0

    @property
    def seconds(self) -> float | None:
        return None if self.minutes is None else self.minutes * 60.0


class FitClock:
    """Wall and CPU seconds of one fit over every session of a resumed one."""

    def __init__(self, seconds_before: float = 0.0, cpu_before: float = 0.0) -> None:
        self.seconds_before = seconds_before
        self.cpu_before = cpu_before
        self._wall0 = time.monotonic()
        self._cpu0 = time.process_time()

    def seconds(self) -> float:
        return self.seconds_before + time.monotonic() - self._wall0

    def cpu_seconds(self) -> float:
        return self.cpu_before + time.process_time() - self._cpu0


@dataclass(frozen=True)
class Fit:
    """What `fit_to_window` trained: the learner (model and optimiser), its wall and CPU
    seconds (over every session when resumed) and the last batch's losses (None when no
    step was taken)."""

    learner: Learner
    seconds: float
    final_loss: dict[str, float] | None
    cpu_seconds: float = 0.0


def _loss_record(loss: LossReport) -> dict[str, float]:
    return {
        "total": loss.total,
        "policy": loss.policy,
        "value": loss.value,
        "ownership": loss.ownership,
        "policy_entropy": loss.policy_entropy,
    }


def _fit_key(window: ReplayWindow, train: TrainConfig, plan: FitPlan) -> dict[str, object]:
    """What a fit's unfinished state must share with the fit that continues it: the
    window, the training settings (as text: batch size, optimiser, rates, augmentation)
    and the seed."""
    return {
        "positions": len(window),
        "games": window.games_added,
        "holdout_every": plan.holdout_every,
        "train": repr(train),
        "seed": plan.seed,
    }


def _resume(
    progress: Path, window: ReplayWindow, net: NetConfig, train: TrainConfig, plan: FitPlan
) -> tuple[PolicyValueNet, dict, int, dict] | None:
    """The weights, optimiser state, step and metadata of `progress` when it continues
    this very fit (same net, window, settings and seed, not past its step count); None,
    with the reason logged, when it cannot, and the fit starts afresh."""
    if not progress.is_file():
        return None
    try:
        checkpoint = load_checkpoint(progress, net.board_size)
    except CheckpointError as exc:
        log.warning("unfinished fit not continued, starting afresh: %s", exc)
        return None
    meta = checkpoint.metadata
    key = _fit_key(window, train, plan)
    state = checkpoint.optimizer_state
    why = None
    if meta.get("mode") != PROGRESS_MODE:
        why = f"its mode is {meta.get('mode')!r}"
    elif checkpoint.config != net:
        why = "it is a different net"
    elif differ := [k for k in key if meta.get(k) != key[k]]:
        why = f"its {', '.join(differ)} differ from this fit's"
    elif plan.steps is not None and checkpoint.step > plan.steps:
        why = f"it is at step {checkpoint.step}, past this fit's {plan.steps}"
    elif state is None or not isinstance(meta.get("rng"), dict):
        why = "it has no optimiser or sampler state"
    if why is not None or state is None:
        log.warning("%s is not continued (%s); starting afresh", progress, why)
        return None
    return checkpoint.build_model(), dict(state), checkpoint.step, dict(meta)


def fit_to_window(
    window: ReplayWindow,
    net: NetConfig,
    train: TrainConfig,
    plan: FitPlan,
    on_step: Callable[[int, LossReport], None] | None = None,
    on_learner: Callable[[Learner, FitClock], None] | None = None,
    progress: Path | None = None,
) -> Fit:
    """Supervised learning on `window` with a fresh `PolicyValueNet(net)` and `train`'s
    optimiser, learning rate, batch size, loss weights and symmetry augmentation, until
    `plan.steps` gradient steps or `plan.minutes` of wall time, whichever is first.
    `on_learner` is handed the learner and its clock before the first step (to save
    snapshots).

    With `progress`, the fit writes its unfinished state there every `PROGRESS_SECONDS`
    (weights, optimiser, step, sampler state, time so far) and, when the file is there
    for this same fit, continues from it: a resumed fit takes the very batches and
    reaches the very weights an uninterrupted one does. The caller removes the file once
    it has kept the result.
    """
    if plan.steps is None:
        raise ValueError("fit_to_window needs a step count: FitPlan(steps=N)")
    set_torch_threads(plan.threads)
    torch.manual_seed(plan.seed)
    rng = np.random.default_rng(plan.seed)
    found = None if progress is None else _resume(progress, window, net, train, plan)
    last_loss: dict[str, float] | None = None
    if found is None:
        learner = Learner.from_config(PolicyValueNet(net), train)
        clock = FitClock()
    else:
        model, optimizer_state, step, meta = found
        learner = Learner.from_config(model, train, optimizer_state=optimizer_state, step=step)
        rng.bit_generator.state = meta["rng"]
        clock = FitClock(float(meta.get("seconds", 0.0)), float(meta.get("cpu_seconds", 0.0)))
        last_loss = meta.get("last_loss")
        log.info("continuing the fit in %s at step %d", progress, step)
    if on_learner is not None:
        on_learner(learner, clock)
    saved_at = time.monotonic()
    while learner.step < plan.steps and (plan.seconds is None or clock.seconds() < plan.seconds):
        batch = window.sample(train.batch_size, rng, augment=train.symmetry_augmentation)
        loss = learner.train_step(batch)
        last_loss = _loss_record(loss)
        # The step's own work (a snapshot) first: state saved after it never skips it.
        if on_step is not None:
            on_step(learner.step, loss)
        if progress is not None and time.monotonic() - saved_at >= PROGRESS_SECONDS:
            save_checkpoint(
                progress,
                learner.model,
                step=learner.step,
                optimizer=learner.optimizer,
                metadata={
                    "mode": PROGRESS_MODE,
                    **_fit_key(window, train, plan),
                    "rng": rng.bit_generator.state,
                    "seconds": clock.seconds(),
                    "cpu_seconds": clock.cpu_seconds(),
                    "last_loss": last_loss,
                },
            )
            saved_at = time.monotonic()
    return Fit(learner, clock.seconds(), last_loss, cpu_seconds=clock.cpu_seconds())


def crowd_compute(run: RunDir) -> tuple[int, float | None]:
    """The crowd run's gradient steps (its newest checkpoint) and wall time in seconds.

    Wall time is `RunDir.trained_seconds`, over every session of a resumed run; None
    before the run's first metrics row.
    """
    latest = run.latest_checkpoint_path()
    steps = RunDir.checkpoint_step(latest) if latest is not None else 0
    return steps, run.trained_seconds() or None


def existing_imitation(out_dir: Path, board_size: int) -> Path | None:
    """The newest loadable imitation checkpoint in `out_dir`, if any."""
    found = newest_loadable_checkpoint(
        out_dir,
        board_size=board_size,
        accept=lambda c: c.metadata.get("mode") == IMITATION_MODE,
    )
    return None if found is None else found.path


def train_imitation(
    crowd_run: RunDir,
    out_dir: Path,
    plan: FitPlan,
    on_step: Callable[[int, LossReport], None] | None = None,
) -> ImitationResult:
    """Train (or reuse) the imitation agent; its checkpoint goes to out_dir/ckpt-*.pt.

    `plan.steps` defaults to the crowd run's gradient steps; `plan.minutes` caps the wall
    time (None: no cap). Whichever ends first stops training. An existing imitation
    checkpoint in `out_dir` is reused unless `plan.retrain`.
    """
    cfg = crowd_run.config
    crowd_steps, crowd_seconds = crowd_compute(crowd_run)
    target_steps = crowd_steps if plan.steps is None else plan.steps
    target_seconds = plan.seconds

    found = None if plan.retrain else existing_imitation(out_dir, cfg.board.size)
    if found is not None:
        checkpoint = load_checkpoint(found)
        meta = checkpoint.metadata
        log.info("reusing the imitation agent %s", found)
        return ImitationResult(
            checkpoint=str(found),
            steps=checkpoint.step,
            seconds=float(meta.get("seconds", 0.0)),
            target_steps=int(meta.get("target_steps", target_steps)),
            target_seconds=meta.get("target_seconds", target_seconds),
            crowd_steps=crowd_steps,
            crowd_seconds=crowd_seconds,
            positions=int(meta.get("positions", 0)),
            games=int(meta.get("games", 0)),
            batch_size=int(meta.get("batch_size", cfg.train.batch_size)),
            reused=True,
            final_loss=meta.get("final_loss"),
        )

    if target_steps < 1:
        raise ImitationError(
            f"{crowd_run.path} has no checkpoint, so there is no step count to match; "
            "give one explicitly (FitPlan(steps=N))"
        )
    with crowd_run.open_store() as store:
        window = build_member_window(
            store.iter_games(),
            cfg.board.size,
            cfg.net.features,
            cfg.train.replay_window,
            holdout_every=plan.holdout_every,
        )
    if len(window) == 0:
        raise ImitationError(
            f"{crowd_run.games_path} holds no crowd-member moves to imitate "
            "(is it a crowd-mode run with finished games?)"
        )

    clocks: list[FitClock] = []
    fitting: list[Learner] = []

    def step_done(step: int, loss: LossReport) -> None:
        if on_step is not None:
            on_step(step, loss)
        if plan.snapshot_every > 0 and step % plan.snapshot_every == 0 and step < target_steps:
            save_checkpoint(
                out_dir / SNAPSHOTS / f"ckpt-{step:08d}.pt",
                fitting[0].model,
                step=step,
                metadata={
                    "run": "imitation",
                    "mode": SNAPSHOT_MODE,
                    "source_run": str(crowd_run.path),
                    "seconds": clocks[0].seconds(),
                    "cpu_seconds": clocks[0].cpu_seconds(),
                },
            )

    def learner_ready(learner: Learner, clock: FitClock) -> None:
        fitting.append(learner)
        clocks.append(clock)

    progress = out_dir / IMITATION_PROGRESS
    if plan.retrain:
        progress.unlink(missing_ok=True)
    fit = fit_to_window(
        window,
        cfg.net,
        cfg.train,
        replace(plan, steps=target_steps),
        step_done,
        on_learner=learner_ready,
        progress=progress,
    )
    learner, seconds, final_loss = fit.learner, fit.seconds, fit.final_loss
    cpu_seconds = fit.cpu_seconds
    path = out_dir / f"ckpt-{learner.step:08d}.pt"
    save_checkpoint(
        path,
        learner.model,
        optimizer=learner.optimizer,
        step=learner.step,
        metadata={
            "run": "imitation",
            "mode": IMITATION_MODE,
            "source_run": str(crowd_run.path),
            "positions": len(window),
            "games": window.games_added,
            "seconds": seconds,
            # Its own training CPU; add the games' share with train.compute.learning_budget.
            "cpu_seconds": cpu_seconds,
            "target_steps": target_steps,
            "target_seconds": target_seconds,
            "batch_size": cfg.train.batch_size,
            "final_loss": final_loss,
        },
    )
    progress.unlink(missing_ok=True)
    log.info("imitation agent: %d steps in %.0f s -> %s", learner.step, seconds, path)
    return ImitationResult(
        checkpoint=str(path),
        steps=learner.step,
        seconds=seconds,
        target_steps=target_steps,
        target_seconds=target_seconds,
        crowd_steps=crowd_steps,
        crowd_seconds=crowd_seconds,
        positions=len(window),
        games=window.games_added,
        batch_size=cfg.train.batch_size,
        reused=False,
        final_loss=final_loss,
    )

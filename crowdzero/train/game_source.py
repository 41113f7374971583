"""Where a training run's games come from: one `GameSource`, in the driver or on Ray.

The learner, the replay window and the store stay in one process (the run's driver), the
single owner of that state; only game generation moves. Both sources run the same
`GameGenerator` (one `MatchRunner`, the agent's batched search, the opponent schedule):

* `LocalGames`: one generator inside the driver, the single-process run of old;
* `crowdzero.train.ray_workers.RayGames`: one generator in each of N Ray actors, on this
  machine or across a cluster (`crowdzero train --workers N`).

The training loop asks a source for what finished since it last looked (`collect`), hands
it each new version of the weights (`new_weights`) and reads its counters for the panel,
and never asks which source it has. Ray is imported only by the second.

Every game a generator finishes carries a unique id (``metadata["uid"]``: a random prefix
per generator, then a count) that the store refuses to see twice, and the training step
of the weights each of the agent's moves was searched with (weights change between moves,
so a game's ``weights_step`` metadata says only where it began).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from crowdzero.go.coords import BLACK, WHITE
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.net.model import PolicyValueNet
from crowdzero.play.advice import ScheduledAdviser, draw_plan
from crowdzero.play.match_runner import MatchRunner, Pairing
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.play.record import Game
from crowdzero.players.agent import AgentPlayer
from crowdzero.search.config import SearchConfig
from crowdzero.search.evaluator import Evaluator
from crowdzero.train.config import RunConfig


@dataclass(frozen=True)
class FinishedGame:
    """A finished game as a generator hands it over: the record, with its uid and, on
    each of the agent's moves, the training step of the weights it was searched with."""

    game: Game

    @property
    def uid(self) -> str:
        return self.game.metadata["uid"]


@dataclass(frozen=True)
class Collected:
    """What a source delivered since the last look: finished games, and why games were
    voided (a member failed) or lost (a worker died with them)."""

    finished: list[FinishedGame] = dataclasses.field(default_factory=list)
    dropped: list[str] = dataclasses.field(default_factory=list)


class GameSource(Protocol):
    """What the training loop needs from whoever plays its games."""

    def collect(self) -> Collected:
        """Play on (or wait up to about 0.1 s for workers) and return what finished.
        Called only while the learner keeps up: not calling it is the backpressure."""

    def drain(self) -> Collected:
        """Games already finished but not yet collected, at the end of a run; no new
        work is started."""

    def new_weights(self, model: PolicyValueNet, step: int) -> None:
        """A new version of the weights, from the learner's thread: copied now, played
        from the next `collect` on."""

    @property
    def weights_step(self) -> int:
        """The oldest weights version any generator still plays with."""

    @property
    def moves_played(self) -> int: ...

    @property
    def simulations_done(self) -> int: ...

    @property
    def agent_batch_fill(self) -> float:
        """Mean share of a generator's live games in one agent search."""

    @property
    def status(self) -> str:
        """One line for the panel about the generators ("" when there is nothing to say)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class WorkerSettings:
    """How game generation spreads over Ray actors (`crowdzero train --workers N`).

    Not part of the run's config: the same run may continue on one machine or many. The
    games in flight (finished at a worker, not yet stored) are bounded by
    ``workers * orders_in_flight * (games_per_order + concurrent_games)``: a worker plays
    only while it holds an order, and the driver gives out orders only while the learner
    keeps up.
    """

    workers: int
    #: Ray cluster to join ("auto", "ray://host:10001", "host:6379"); None starts a
    #: private one on this machine.
    address: str | None = None
    #: Times Ray restarts a worker that died before it is given up.
    max_restarts: int = 20
    #: Orders queued at each worker: 2 keeps it playing while its last results travel.
    orders_in_flight: int = 2
    #: An order ends when this many games finished ...
    games_per_order: int = 4
    #: ... or after this long, so new weights and curriculum draws arrive often.
    seconds_per_order: float = 2.0
    #: CPUs Ray reserves per worker (its search threads); crowd engines come on top.
    cpus_per_worker: float = 1.0
    #: How long the workers may take to start (import torch, build the crowd).
    start_timeout: float = 600.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1, not {self.workers}")
        if self.orders_in_flight < 1 or self.games_per_order < 1:
            raise ValueError("workers need at least one order of at least one game")
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be at least 0, not {self.max_restarts}")


class VersionedAgent(AgentPlayer):
    """The learning agent, stamping each move it searches with the step of its weights
    (the runner copies the stamp into the move record, the store keeps it per move)."""

    def __init__(
        self, evaluator: Evaluator, config: SearchConfig, *, weights_step: int, **kw: Any
    ) -> None:
        super().__init__(evaluator, config, **kw)
        self.weights_step = weights_step

    def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
        step = self.weights_step
        return [
            dataclasses.replace(choice, weights_step=step)
            for choice in super().select_moves(requests)
        ]

    def use_weights(self, evaluator: Evaluator, step: int) -> None:
        self.update_evaluator(evaluator)
        self.weights_step = step


class GameGenerator:
    """One `MatchRunner` with the agent and its opponent schedule: the unit that plays a
    run's games, in the driver (`LocalGames`) or in a Ray worker.

    `draw_member` picks the crowd member of the next game (crowd mode); `checkpoint` says
    the label of the run's newest checkpoint file, recorded with each game; `agent_name`
    is the learning agent's name in the records (`training_run.AGENT_NAME`).
    """

    def __init__(
        self,
        config: RunConfig,
        evaluator: Evaluator,
        *,
        rng: np.random.Generator,
        weights_step: int,
        checkpoint: Callable[[], str | None],
        draw_member: Callable[[np.random.Generator], Player] | None,
        agent_name: str,
        advice: Sequence[ScheduledAdviser] = (),
    ) -> None:
        self.config = config
        self.advice = tuple(advice)
        self.rng = rng
        self._checkpoint = checkpoint
        self._draw_member = draw_member
        if config.train.mode == "crowd" and draw_member is None:
            raise ValueError("a crowd run needs a way to draw its members")
        self.agent = VersionedAgent(
            evaluator, config.search, weights_step=weights_step, name=agent_name, rng=rng
        )
        self._games_started = 0
        self._uid_prefix = uuid.uuid4().hex[:12]
        self._games_finished = 0
        self.runner = MatchRunner(
            config.rules,
            self.next_pairing,
            concurrency=config.train.concurrent_games,
            max_moves=config.max_moves,
            workers=config.train.crowd_threads or config.train.concurrent_games,
            source="train",
            agent_moves_last=config.train.agent_moves_last,
            learner_wait=config.train.agent_search_wait,
            learner_min_fill=config.train.agent_search_min_fill,
        )

    def next_pairing(self) -> Pairing:
        """The only place where self-play and crowd training differ."""
        train = self.config.train
        index = self._games_started
        self._games_started += 1
        if train.mode == "self":
            allow_resign = bool(self.rng.random() >= train.no_resign_fraction)
            return Pairing(
                self.agent,
                self.agent,
                frozenset({BLACK, WHITE}),
                checkpoint=self._checkpoint(),
                allow_resign=allow_resign,
                weights_step=self.agent.weights_step,
                advice=draw_plan(self.advice, self.rng),
            )
        assert self._draw_member is not None
        member = self._draw_member(self.rng)
        allow_resign = bool(self.rng.random() >= train.no_resign_fraction)
        # Colours alternate so that every member meets the agent as black and as white.
        black, white, seat = (
            (self.agent, member, BLACK) if index % 2 == 0 else (member, self.agent, WHITE)
        )
        return Pairing(
            black,
            white,
            frozenset({seat}),
            checkpoint=self._checkpoint(),
            allow_resign=allow_resign,
            weights_step=self.agent.weights_step,
            advice=draw_plan(self.advice, self.rng),
        )

    def step(self) -> Collected:
        """One runner step: the games that ended, each with its uid and move steps."""
        finished, dropped = self.runner.step()
        out = Collected(dropped=[drop.reason for drop in dropped])
        for game in finished:
            uid = f"{self._uid_prefix}-{self._games_finished}"
            self._games_finished += 1
            record = dataclasses.replace(game, metadata={**game.metadata, "uid": uid})
            out.finished.append(FinishedGame(record))
        return out

    def use_weights(self, evaluator: Evaluator, step: int) -> None:
        """Play with new weights from the next move on (the search trees are dropped)."""
        self.agent.use_weights(evaluator, step)

    @property
    def simulations_done(self) -> int:
        return int(getattr(self.agent.searcher, "simulations_done", 0))

    def close(self) -> None:
        self.runner.close()
        self.agent.close()


class LocalGames:
    """The single-process source: one generator in the driver, stepped by the training
    loop itself, exactly the run of before workers existed."""

    def __init__(self, generator: GameGenerator) -> None:
        self.generator = generator
        self._pending: tuple[TorchEvaluator, int] | None = None

    def collect(self) -> Collected:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.generator.use_weights(*pending)
        return self.generator.step()

    def drain(self) -> Collected:
        return Collected()  # a local game is finished only inside `collect`

    def new_weights(self, model: PolicyValueNet, step: int) -> None:
        # The evaluator copies the weights here, on the learner's thread, between its steps.
        self._pending = (TorchEvaluator(model, threads=None), step)

    @property
    def weights_step(self) -> int:
        return self.generator.agent.weights_step

    @property
    def moves_played(self) -> int:
        return self.generator.runner.moves_played

    @property
    def simulations_done(self) -> int:
        return self.generator.simulations_done

    @property
    def agent_batch_fill(self) -> float:
        return self.generator.runner.learner_batch_fill

    @property
    def status(self) -> str:
        return ""

    def close(self) -> None:
        self.generator.close()

"""Game generation on Ray: N actors, each a `GameGenerator`, feeding one driver.

Each `GameWorker` actor runs the run's `MatchRunner` (the agent's batched search over
its own live games, its own crowd engines), on this machine or any machine of a Ray
cluster; the driver keeps the learner, the replay window and the store. This module is
imported only by a run with workers, so a run without them never imports Ray.

Work goes out as orders, and that is the whole protocol:

* **Orders are the backpressure.** A worker plays only while it holds an order, and one
  ends after `WorkerSettings.games_per_order` games or `seconds_per_order` seconds,
  returning the finished games. The driver keeps `orders_in_flight` orders queued per
  worker (so it never idles while results travel) and gives out new ones only from
  `collect`, which the training loop stops calling while the learner falls behind. So
  finished games waiting for the driver are bounded (the object store and the replay
  cannot grow without limit, a known failure of muzero-general's Ray layout), and an
  idle worker holds its live games until work comes again.
* **Weights: one object per version.** `new_weights` puts the state dict in the object
  store once; orders carry the reference, nested so Ray does not resolve it, and a
  worker fetches a version only when it is newer than its own, between runner steps
  (so between moves).
* **The curriculum stays in the driver.** The driver's crowd sees every stored result
  (the web's games and a restarted worker's included) and is rebuilt from the store on
  resume; each order carries its current draw probabilities, and a worker draws its
  members with them. Workers keep no curriculum of their own, so there is one view of
  who the agent should meet, and the panel shows it.
* **Faults.** A worker that dies (killed, its machine lost) loses its live games, never
  a finished one it has returned; Ray restarts it (`max_restarts`) from its setup,
  and it fetches the current weights with its next order. Each game carries a uid from
  its generator and the store refuses a second copy, so nothing is stored twice; a game
  is stored with its moves in one transaction, so nothing is stored half.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import cast

import numpy as np
import ray
import torch
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from crowdzero.net.evaluator import TorchEvaluator, set_torch_threads
from crowdzero.net.model import PolicyValueNet
from crowdzero.play.player import Player
from crowdzero.players.crowd import DEFAULT_CROWD, Crowd
from crowdzero.train.config import RunConfig
from crowdzero.train.game_source import Collected, FinishedGame, GameGenerator, WorkerSettings

log = logging.getLogger(__name__)


class WorkersUnavailable(RuntimeError):
    """The Ray workers could not start, or every one of them has died for good."""


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker is built from; Ray keeps it, so a restarted worker is built the same."""

    config: RunConfig
    crowd_toml: str | None  # the crowd file's text: nodes need not share a file system
    crowd_source: str
    seed: int
    index: int
    threads: int
    agent_name: str


@dataclass(frozen=True)
class WorkOrder:
    """Play until `max_games` games finished or `max_seconds` passed, with these weights
    and (crowd mode) these draw probabilities."""

    weights: ray.ObjectRef  # nested in the order: the worker fetches it only when newer
    weights_step: int
    checkpoint: str | None
    draw_weights: dict[str, float] | None
    max_games: int
    max_seconds: float


@dataclass(frozen=True)
class WorkReport:
    """What one order produced, and how the worker stands (for the panel and the tests)."""

    incarnation: str  # new after each restart
    pid: int
    node_id: str
    finished: list[FinishedGame]
    dropped: list[str]
    weights_step: int
    live_games: int
    moves: int
    simulations: int
    agent_calls: int
    agent_requests: int


def state_dict_bytes(model: PolicyValueNet) -> int:
    """Bytes of one weights publication (float32 parameters and buffers)."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


class GameWorker:
    """A Ray actor: one `GameGenerator` playing the run's games wherever Ray places it."""

    def __init__(self, setup: WorkerSetup) -> None:
        set_torch_threads(setup.threads)
        self.setup = setup
        self.incarnation = uuid.uuid4().hex[:12]
        cfg = setup.config
        self.model = PolicyValueNet(cfg.net)
        self.crowd: Crowd | None = None
        if setup.crowd_toml is not None:
            self.crowd = Crowd.from_toml(
                setup.crowd_toml, source=setup.crowd_source, board_size=cfg.board.size
            )
        self._draw_weights: dict[str, float] = {}
        self._checkpoint: str | None = None
        # A restarted worker must not replay its predecessor's games move for move.
        rng = np.random.default_rng([setup.seed, setup.index, int(self.incarnation, 16)])
        self.generator = GameGenerator(
            cfg,
            TorchEvaluator(self.model, threads=setup.threads),
            rng=rng,
            weights_step=-1,  # no game is played before the first order's weights arrive
            checkpoint=lambda: self._checkpoint,
            draw_member=self._draw if self.crowd is not None else None,
            agent_name=setup.agent_name,
            advice=self.crowd.advice if self.crowd is not None else (),
        )
        self.node_id = ray.get_runtime_context().get_node_id()

    def members(self) -> dict[str, str]:
        """Player name -> crowd member name, for the driver's curriculum."""
        crowd = self.crowd
        return {} if crowd is None else {crowd.player(n).name: n for n in crowd.names}

    def _draw(self, rng: np.random.Generator) -> Player:
        assert self.crowd is not None
        crowd = self.crowd
        weights = {n: w for n, w in self._draw_weights.items() if n in crowd.names and w > 0}
        if not weights:  # no word from the driver yet, or it knows only disabled members
            return crowd.player(crowd.sample(rng))
        names = list(weights)
        p = np.array([weights[n] for n in names], dtype=np.float64)
        return crowd.player(names[int(rng.choice(len(names), p=p / p.sum()))])

    def play(self, order: WorkOrder) -> WorkReport:
        generator = self.generator
        if order.weights_step > generator.agent.weights_step:
            self.model.load_state_dict(ray.get(order.weights))
            generator.use_weights(
                TorchEvaluator(self.model, threads=self.setup.threads), order.weights_step
            )
        self._checkpoint = order.checkpoint
        if order.draw_weights is not None:
            self._draw_weights = order.draw_weights
        runner = generator.runner
        before = (
            runner.moves_played,
            generator.simulations_done,
            runner.learner_calls,
            runner.learner_requests,
        )
        out = Collected()
        deadline = time.monotonic() + order.max_seconds
        while len(out.finished) < order.max_games and time.monotonic() < deadline:
            step = generator.step()
            out.finished.extend(step.finished)
            out.dropped.extend(step.dropped)
        return WorkReport(
            incarnation=self.incarnation,
            pid=os.getpid(),
            node_id=self.node_id,
            finished=out.finished,
            dropped=out.dropped,
            weights_step=generator.agent.weights_step,
            live_games=runner.live_games,
            moves=runner.moves_played - before[0],
            simulations=generator.simulations_done - before[1],
            agent_calls=runner.learner_calls - before[2],
            agent_requests=runner.learner_requests - before[3],
        )


@dataclass
class _Worker:
    """The driver's view of one worker."""

    index: int
    handle: ray.actor.ActorHandle
    in_flight: int = 0
    failures: int = 0  # orders lost in a row; reset by a report
    incarnation: str | None = None
    restarts: int = 0
    live_games: int = 0
    weights_step: int = 0
    pid: int | None = None
    node_id: str | None = None
    dead: bool = False
    games: int = 0


@dataclass
class _Counters:
    moves: int = 0
    simulations: int = 0
    agent_calls: int = 0
    agent_requests: int = 0
    games_lost: int = 0
    restarts: int = 0
    notes: list[str] = field(default_factory=list)


class RayGames:
    """The Ray source: N `GameWorker` actors, spread over the cluster's nodes."""

    def __init__(
        self,
        config: RunConfig,
        settings: WorkerSettings,
        model: PolicyValueNet,
        step: int,
        *,
        seed: int,
        checkpoint: Callable[[], str | None],
        draw_weights: Callable[[], dict[str, float]] | None,
        agent_name: str,
    ) -> None:
        self.config = config
        self.settings = settings
        self._checkpoint = checkpoint
        self._draw_weights = draw_weights
        self._started_ray = _connect(settings)
        self.weights_bytes = state_dict_bytes(model)
        self._weights = (ray.put(_copy_state(model)), step)
        self._pending_weights: tuple[ray.ObjectRef, int] | None = None
        self._orders: dict[ray.ObjectRef, _Worker] = {}
        self._counters = _Counters()
        crowd_toml = source = None
        if config.train.mode == "crowd":
            crowd_toml, source = _crowd_text(config.train.crowd)
        actor = ray.remote(GameWorker).options(
            num_cpus=settings.cpus_per_worker,
            max_restarts=settings.max_restarts,
            max_task_retries=0,  # a lost order is not replayed: its games are gone anyway
            scheduling_strategy="SPREAD",
        )
        threads = max(1, math.floor(settings.cpus_per_worker))
        self._workers = [
            _Worker(
                i,
                cast(
                    ray.actor.ActorHandle,
                    actor.remote(
                        WorkerSetup(config, crowd_toml, source or "", seed, i, threads, agent_name)
                    ),
                ),
            )
            for i in range(settings.workers)
        ]
        try:
            self.members = self._wait_until_started()
        except BaseException:
            self.close()
            raise

    def _wait_until_started(self) -> dict[str, str]:
        refs = [w.handle.members.remote() for w in self._workers]
        try:
            answers: list[dict[str, str]] = ray.get(refs, timeout=self.settings.start_timeout)
        except GetTimeoutError:
            cpus = self.settings.cpus_per_worker
            raise WorkersUnavailable(
                f"the {len(refs)} workers did not start within "
                f"{self.settings.start_timeout:g} s; each asks Ray for {cpus:g} CPU, and the "
                f"cluster has {ray.cluster_resources().get('CPU', 0):g} (ray status shows them)"
            ) from None
        except RayActorError as exc:
            raise WorkersUnavailable(f"a worker could not start: {exc}") from exc
        members: dict[str, str] = {}
        for answer in answers:
            members |= answer
        return members

    # -- GameSource ----------------------------------------------------------
    def collect(self) -> Collected:
        if self._pending_weights is not None:
            self._weights, self._pending_weights = self._pending_weights, None
        self._give_orders()
        out = Collected()
        refs = list(self._orders)
        ready, _ = ray.wait(refs, num_returns=1, timeout=0.1)
        if ready:  # and whatever else is ready by now
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            self._receive(ref, out)
        return out

    def drain(self) -> Collected:
        """The orders that finish within one order's time; the rest are given up."""
        out = Collected()
        refs = list(self._orders)
        if refs:
            ready, _ = ray.wait(
                refs, num_returns=len(refs), timeout=self.settings.seconds_per_order + 1
            )
            for ref in ready:
                self._receive(ref, out)
        return out

    def new_weights(self, model: PolicyValueNet, step: int) -> None:
        self._pending_weights = (ray.put(_copy_state(model)), step)

    @property
    def weights_step(self) -> int:
        steps = [w.weights_step for w in self._workers if not w.dead and w.incarnation]
        return min(steps) if steps else self._weights[1]

    @property
    def moves_played(self) -> int:
        return self._counters.moves

    @property
    def simulations_done(self) -> int:
        return self._counters.simulations

    @property
    def agent_batch_fill(self) -> float:
        c = self._counters
        concurrency = self.config.train.concurrent_games
        return c.agent_requests / (c.agent_calls * concurrency) if c.agent_calls else 0.0

    @property
    def status(self) -> str:
        alive = sum(not w.dead for w in self._workers)
        nodes = len({w.node_id for w in self._workers if w.node_id and not w.dead})
        c = self._counters
        return (
            f"{alive} of {len(self._workers)} on {nodes} node(s), {c.restarts} restarted, "
            f"{c.games_lost} unfinished games lost"
        )

    @property
    def workers(self) -> list[_Worker]:
        """The driver's view of each worker (pid, node, restarts), for tests and tools."""
        return list(self._workers)

    def close(self) -> None:
        for worker in self._workers:
            try:
                ray.kill(worker.handle, no_restart=True)
            except Exception:  # already gone, or Ray is shutting down
                log.debug("could not kill worker %d", worker.index, exc_info=True)
        self._orders.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    # -- internals -----------------------------------------------------------
    def _give_orders(self) -> None:
        living = [w for w in self._workers if not w.dead]
        if not living:
            raise WorkersUnavailable(
                "every worker has died for good: " + "; ".join(self._counters.notes[-3:])
            )
        ref, step = self._weights
        order = WorkOrder(
            weights=ref,
            weights_step=step,
            checkpoint=self._checkpoint(),
            draw_weights=self._draw_weights() if self._draw_weights is not None else None,
            max_games=self.settings.games_per_order,
            max_seconds=self.settings.seconds_per_order,
        )
        for worker in living:
            while worker.in_flight < self.settings.orders_in_flight:
                self._orders[worker.handle.play.remote(order)] = worker
                worker.in_flight += 1

    def _receive(self, ref: ray.ObjectRef, out: Collected) -> None:
        worker = self._orders.pop(ref)
        worker.in_flight -= 1
        try:
            report: WorkReport = ray.get(ref)
        except ActorUnavailableError as exc:  # unreachable for now; its games may go on
            worker.failures += 1
            log.warning("worker %d is unreachable: %s", worker.index, _first_line(exc))
            return
        except RayActorError as exc:
            self._lost(worker, exc)
            return
        # Any other error is a bug in the generator: it stops the run, as in one process.
        worker.failures = 0
        if report.incarnation != worker.incarnation:
            if worker.incarnation is not None:
                # Its predecessor died; Ray may have said so only as "unavailable".
                worker.restarts += 1
                self._counters.restarts += 1
                self._counters.games_lost += worker.live_games
                log.warning(
                    "worker %d is back (pid %d); %d unfinished games were lost",
                    worker.index,
                    report.pid,
                    worker.live_games,
                )
            worker.incarnation = report.incarnation
        worker.live_games = report.live_games
        worker.weights_step = report.weights_step
        worker.pid, worker.node_id = report.pid, report.node_id
        worker.games += len(report.finished)
        c = self._counters
        c.moves += report.moves
        c.simulations += report.simulations
        c.agent_calls += report.agent_calls
        c.agent_requests += report.agent_requests
        out.finished.extend(report.finished)
        out.dropped.extend(report.dropped)

    def _lost(self, worker: _Worker, exc: RayActorError) -> None:
        """A worker died: its live games are gone; Ray restarts it unless it ran out of
        restarts, which shows as orders failing over and over."""
        worker.failures += 1
        note = f"worker {worker.index}: {_first_line(exc)}"
        self._counters.notes.append(note)
        if worker.live_games:
            log.warning("%s; %d unfinished games lost", note, worker.live_games)
            self._counters.games_lost += worker.live_games
            worker.live_games = 0
        limit = (self.settings.max_restarts + 1) * self.settings.orders_in_flight
        if worker.failures > limit:
            worker.dead = True
            log.error("worker %d is given up after %d lost orders", worker.index, limit)


def _connect(settings: WorkerSettings) -> bool:
    """Join the cluster named by `--ray-address`, or start a private one on this machine
    when none is named; True when this run started Ray."""
    if ray.is_initialized():  # a caller (a test, a notebook) brought its own
        return False
    options: dict[str, object] = {
        "log_to_driver": False,  # workers log to Ray's session logs, not over the panel
        "include_dashboard": False,
        "logging_level": logging.WARNING,
    }
    if settings.address is None:
        # "local", not None: with None Ray joins any cluster it finds (RAY_ADDRESS, or the
        # last `ray start` on this machine) and then refuses num_cpus; no address means
        # this machine only, as the CLI says.
        cpus = max(os.cpu_count() or 1, math.ceil(settings.workers * settings.cpus_per_worker))
        ray.init(address="local", num_cpus=cpus, **options)  # type: ignore[arg-type]
    else:
        ray.init(address=settings.address, **options)  # type: ignore[arg-type]
    return True


def _copy_state(model: PolicyValueNet) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _crowd_text(path: str) -> tuple[str, str]:
    """The crowd file's text and name, shipped to the workers with their setup."""
    if path == "default":
        text = resources.files("crowdzero.players").joinpath(DEFAULT_CROWD).read_text()
        return text, DEFAULT_CROWD
    with open(path, encoding="utf-8") as f:
        return f.read(), path


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]

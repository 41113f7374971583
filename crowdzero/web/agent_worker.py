"""The agent's side of every web game: one thread, one batched search for all games.

Fifty people playing at once must not mean fifty searches one after another. The worker
loop takes every open game where the agent is to move, answers them all with ONE
`AgentPlayer.select_moves` call (the same `BatchedSearcher` training uses, so the leaves
of all the games share each network call), hands the moves back to the `GameTable`, and
repeats. A person whose move arrives during a search is answered in the next batch.

People play the run's newest checkpoint with the run's search settings and the root
noise off (`add_noise=False`: no Dirichlet noise, no temperature, no Gumbel noise), so
the agent plays its best move. The worker looks for a newer checkpoint every
`checkpoint_poll` seconds and switches to it between batches; before the run has a
checkpoint it plays a freshly initialised network of the run's config (seeded with the
run's seed, so it is the same untrained net every time).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crowdzero.go.position import Position
from crowdzero.net.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    newest_loadable_checkpoint,
)
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.net.model import PolicyValueNet
from crowdzero.play.player import MoveRequest
from crowdzero.players.agent import AgentPlayer
from crowdzero.search.config import SearchConfig
from crowdzero.train.run_dir import RunDir
from crowdzero.web.games import AGENT_NAME, GameTable

log = logging.getLogger(__name__)


class AgentNetwork:
    """The newest usable network of a run, as a `TorchEvaluator`.

    `label` names it the way training labels its games (``"<run>@<step>"``); it is None
    for the freshly initialised network used before the first checkpoint.
    """

    def __init__(self, run_dir: RunDir, *, threads: int | None = 2) -> None:
        self.run_dir = run_dir
        self.threads = threads
        self.path: Path | None = None
        self.step: int | None = None
        self._failed: set[tuple[Path, float]] = set()  # (file, mtime) that did not load
        self.evaluator: TorchEvaluator
        self.evaluator = self._load_newest() or self._fresh()

    @property
    def label(self) -> str | None:
        return None if self.step is None else f"{self.run_dir.name}@{self.step}"

    @property
    def fresh(self) -> bool:
        """True while playing the untrained network (the run has no checkpoint yet)."""
        return self.path is None

    def describe(self) -> dict[str, Any]:
        return {
            "fresh": self.fresh,
            "step": self.step,
            "label": self.label,
            "file": None if self.path is None else self.path.name,
        }

    def refresh(self) -> bool:
        """Switch to a newer checkpoint if one has appeared; True if the network changed.

        A newest file that does not load is remembered (by name and modification time)
        and not tried again, so a corrupt file costs one warning, not one per poll.
        """
        newest = self.run_dir.latest_checkpoint_path()
        if newest is None or newest == self.path:
            return False
        try:
            key = (newest, newest.stat().st_mtime)
        except OSError:
            return False
        if key in self._failed:
            return False
        if self._load(newest):
            return True
        self._failed.add(key)
        return False

    def _load_newest(self) -> TorchEvaluator | None:
        """The newest checkpoint that loads (a corrupt newest one falls back to the one
        before, as training does); None if none does."""
        found = newest_loadable_checkpoint(
            self.run_dir.checkpoints_dir, board_size=self.run_dir.config.board.size
        )
        if found is None:
            return None
        self._use(found)
        return self.evaluator

    def _load(self, path: Path) -> bool:
        try:
            checkpoint = load_checkpoint(path, board_size=self.run_dir.config.board.size)
        except CheckpointError as e:
            log.warning("web: skipping unusable checkpoint: %s", e)
            return False
        self._use(checkpoint)
        return True

    def _use(self, checkpoint: Checkpoint) -> None:
        self.evaluator = TorchEvaluator(checkpoint.build_model(), threads=self.threads)
        self.path = checkpoint.path
        self.step = checkpoint.step
        log.info("web: playing people with %s (step %d)", checkpoint.path.name, checkpoint.step)

    def _fresh(self) -> TorchEvaluator:
        config = self.run_dir.config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.train.seed)
            model = PolicyValueNet(config.net)
        log.info("web: %s has no checkpoint yet; playing an untrained network", self.run_dir)
        return TorchEvaluator(model, threads=self.threads)


@dataclass
class WorkerStats:
    """What the worker has done, for /api/status and the load benchmark."""

    batches: int = 0
    moves: int = 0
    largest_batch: int = 0
    search_seconds: float = 0.0
    failures: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "moves": self.moves,
            "largest_batch": self.largest_batch,
            "mean_batch": self.moves / self.batches if self.batches else 0.0,
            "search_seconds": round(self.search_seconds, 3),
            "failures": self.failures,
        }


class AgentWorker:
    """The background thread that answers every web game's agent moves in batches."""

    def __init__(
        self,
        table: GameTable,
        network: AgentNetwork,
        search: SearchConfig,
        *,
        checkpoint_poll: float = 10.0,
        expire_every: float = 30.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.table = table
        self.network = network
        self.agent = AgentPlayer(
            network.evaluator, search, name=AGENT_NAME, add_noise=False, rng=rng
        )
        self.checkpoint_poll = checkpoint_poll
        self.expire_every = expire_every
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the agent worker is already running")
        self._thread = threading.Thread(target=self._run, name="crowdzero-web-agent", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop after the current batch and wait for it."""
        self._stop.set()
        self.table.wake_agent()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def warm_up(self) -> None:
        """One throwaway search (its own player, so the agent's state is untouched), so
        numba's compilation (seconds, once per process) is not paid by the first person."""
        scratch = AgentPlayer(self.network.evaluator, SearchConfig(simulations=2), add_noise=False)
        try:
            scratch.select_moves([MoveRequest("warm-up", Position(self.table.rules))])
        except Exception:
            log.exception("web: the warm-up search failed")

    def _run(self) -> None:
        self.warm_up()
        next_poll = time.monotonic() + self.checkpoint_poll
        next_expiry = time.monotonic() + self.expire_every
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + self.checkpoint_poll
                self._maybe_switch_network()
            if now >= next_expiry:
                next_expiry = now + self.expire_every
                self.table.expire()
            for game_id in self.table.ended_games():
                self.agent.end_game(game_id)
            if not self._stop.is_set():
                self.step(timeout=0.25)

    def step(self, timeout: float = 0.0) -> int:
        """Answer every game waiting for the agent (waiting up to `timeout` s for one);
        returns how many moves were played. The loop calls this; tests may too."""
        turns = self.table.agent_turns(timeout)
        if not turns:
            return 0
        started = time.perf_counter()
        try:
            choices = self.agent.select_moves(
                [MoveRequest(turn.game_id, turn.position) for turn in turns]
            )
        except Exception as e:
            log.exception("the agent's search failed for %d web games", len(turns))
            self.stats.failures += 1
            for turn in turns:
                self.table.fail_agent(turn, f"the agent failed to answer: {e}")
            return 0
        self.stats.search_seconds += time.perf_counter() - started
        self.stats.batches += 1
        self.stats.moves += len(turns)
        self.stats.largest_batch = max(self.stats.largest_batch, len(turns))
        label = self.network.label
        for turn, choice in zip(turns, choices, strict=True):
            self.table.apply_agent_move(turn, choice, label)
        return len(turns)

    def _maybe_switch_network(self) -> None:
        try:
            changed = self.network.refresh()
        except Exception:
            log.exception("web: looking for a new checkpoint failed")
            return
        if changed:
            self.agent.update_evaluator(self.network.evaluator)

"""The thread that plays every web game: one `MatchRunner`, the agent in one seat of each
game and a person (`HumanPlayer`) in the other.

It is the loop training runs, so fifty people playing at once share one batched search:
each step of the runner takes in the people's moves that arrived, then answers every game
where the agent is to move with ONE `AgentPlayer.select_moves` call (the leaves of all the
games share each network call). A person whose move arrives during a search is answered
in the next batch. The runner builds each game's record and hands it to the `GameTable`,
which writes it to the run's store.

People play the run's newest checkpoint with the run's search settings and the root
noise off (`add_noise=False`: no Dirichlet noise, no temperature, no Gumbel noise), so
the agent plays its best move. The thread looks for a newer checkpoint every
`checkpoint_poll` seconds and switches to it between steps; before the run has a
checkpoint it plays a freshly initialised network of the run's config (seeded with the
run's seed, so it is the same untrained net every time).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

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
from crowdzero.play.match_runner import MatchRunner
from crowdzero.play.player import MoveRequest
from crowdzero.players.agent import AgentPlayer
from crowdzero.search.config import SearchConfig
from crowdzero.train.run_dir import RunDir
from crowdzero.web.games import GameTable

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


class RunnerThread:
    """Steps the web's match runner on a background thread; also switches the agent to
    newer checkpoints and expires abandoned games between steps."""

    def __init__(
        self,
        runner: MatchRunner,
        table: GameTable,
        network: AgentNetwork,
        agent: AgentPlayer,
        *,
        checkpoint_poll: float = 10.0,
        expire_every: float = 30.0,
    ) -> None:
        self.runner = runner
        self.table = table
        self.network = network
        self.agent = agent
        self.checkpoint_poll = checkpoint_poll
        self.expire_every = expire_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the runner thread is already running")
        self._thread = threading.Thread(target=self._run, name="crowdzero-web-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop after the current step and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.runner.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict[str, Any]:
        """The agent's batched searches so far, for /api/status and the load benchmark."""
        r = self.runner
        return {
            "batches": r.learner_calls,
            "moves": r.learner_requests,
            "largest_batch": r.learner_largest,
            "mean_batch": r.learner_requests / r.learner_calls if r.learner_calls else 0.0,
            "search_seconds": round(r.learner_seconds, 3),
            "failures": r.learner_failures,
        }

    def warm_up(self) -> None:
        """One throwaway search (its own player, so the agent's state is untouched), so
        numba's compilation (seconds, once per process) is not paid by the first person."""
        scratch = AgentPlayer(self.network.evaluator, SearchConfig(simulations=2), add_noise=False)
        try:
            scratch.select_moves([MoveRequest("warm-up", Position(self.runner.rules))])
        except Exception:
            log.exception("web: the warm-up search failed")

    def step(self, wait_seconds: float = 0.0) -> int:
        """One step of the runner; returns how many moves it played. The loop calls this;
        tests may too."""
        before = self.runner.moves_played
        self.runner.step(wait_seconds)
        return self.runner.moves_played - before

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
            try:
                self.step(wait_seconds=0.25)
            except Exception:
                # The agent's failures void their games inside the runner; anything else
                # is a bug, logged, and the people's games go on after a pause.
                log.exception("web: the match runner failed a step")
                self._stop.wait(1.0)

    def _maybe_switch_network(self) -> None:
        try:
            changed = self.network.refresh()
        except Exception:
            log.exception("web: looking for a new checkpoint failed")
            return
        if changed:
            self.agent.update_evaluator(self.network.evaluator)

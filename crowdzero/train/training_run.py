"""One training run: play games, store them, learn from them, checkpoint, repeat.

The loop is deliberately single-threaded around the network: on a 2-core machine the
search and the learner would only fight over the same cores. Blocking crowd members
(GTP engines, people) answer on worker threads meanwhile, so they never stall it.

Durability: every finished game is committed to the SQLite store the moment it ends,
and checkpoints are written atomically, so after `kill -9` at any moment `--resume`
finds every finished game and the last complete checkpoint; the replay window is then
rebuilt from the store (the one source of truth).

Games come from a `GameSource` (`crowdzero.train.game_source`): in this process, or
from Ray workers on many machines (`workers`); the learner, the replay window and the
store stay here either way. Self-play and crowd mode differ only in
`GameGenerator.next_pairing`: who sits across the board.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import numpy as np
import torch

from crowdzero.go.coords import BLACK, WHITE
from crowdzero.net.checkpoint import (
    newest_loadable_checkpoint,
    save_checkpoint,
)
from crowdzero.net.evaluator import TorchEvaluator, set_torch_threads
from crowdzero.net.model import PolicyValueNet
from crowdzero.play.match_runner import AGENT_NAME, MatchRunner, Pairing
from crowdzero.play.player import Player
from crowdzero.play.record import Game
from crowdzero.players.agent import AgentPlayer
from crowdzero.players.crowd import Crowd
from crowdzero.search.resignation import would_resign_at
from crowdzero.store.game_store import DuplicateGame, GameStore
from crowdzero.train.compute import CPU_COLUMN, CpuClock, run_cpu_seconds
from crowdzero.train.config import RunConfig
from crowdzero.train.game_source import (
    Collected,
    FinishedGame,
    GameGenerator,
    GameSource,
    LocalGames,
    WorkerSettings,
)
from crowdzero.train.learner import Learner, LossReport
from crowdzero.train.replay import ReplayWindow, UnplayableGame, WindowRule
from crowdzero.train.run_dir import RunDir

log = logging.getLogger(__name__)


@dataclass
class RunStats:
    """Counters the progress display and the metrics file read."""

    started: float = field(default_factory=time.monotonic)
    prior_seconds: float = 0.0  # training time of the sessions this one resumes
    games: int = 0
    dropped: int = 0
    duplicates: int = 0  # games a worker delivered again, refused by the store
    unplayable: int = 0  # stored games skipped because they do not replay
    moves: int = 0
    positions: int = 0
    steps: int = 0
    last_loss: LossReport | None = None
    # No-resign games where the agent's resign rule fired, and those of them it won.
    resign_checks: int = 0
    false_resigns: int = 0
    # Recent results of the agent against each opponent name: 1 win, 0 loss, 0.5 draw.
    recent: dict[str, collections.deque[float]] = field(default_factory=dict)

    def record(self, opponent: str, score: float, window: int = 50) -> None:
        self.recent.setdefault(opponent, collections.deque(maxlen=window)).append(score)

    def win_rates(self) -> dict[str, tuple[float, int]]:
        return {k: (float(np.mean(v)), len(v)) for k, v in sorted(self.recent.items()) if v}

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def wall(self) -> float:
        """Training wall time over every session of the run, this one included."""
        return self.prior_seconds + self.elapsed

    @property
    def false_resign_rate(self) -> float | None:
        """Share of the games the resign rule would have given up that were won."""
        return self.false_resigns / self.resign_checks if self.resign_checks else None


class CoreMeter:
    """Cores in use since the last reading: this process (search, learner and their
    threads) and the whole machine (crowd engines included), from /proc/stat."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = time.process_time()
        self._machine = _machine_busy()

    def read(self) -> tuple[float, float | None]:
        wall, cpu, machine = time.monotonic(), time.process_time(), _machine_busy()
        elapsed = max(wall - self._wall, 1e-9)
        ours = (cpu - self._cpu) / elapsed
        total = None
        if machine is not None and self._machine is not None:
            total = (machine - self._machine) / elapsed
        self._wall, self._cpu, self._machine = wall, cpu, machine
        return ours, total


def _machine_busy() -> float | None:
    """Busy CPU seconds of the whole machine so far (None where /proc is missing)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class TrainingRun:
    """Owns everything a run needs; `run()` plays and learns until told to stop."""

    def __init__(
        self,
        run_dir: RunDir,
        *,
        draw_member: Callable[[np.random.Generator], Player] | None = None,
        workers: WorkerSettings | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.config: RunConfig = run_dir.config
        cfg = self.config
        self.store = run_dir.open_store()
        self.rng = np.random.default_rng(cfg.train.seed + _resume_salt(run_dir, self.store))
        torch.manual_seed(cfg.train.seed)
        self.stats = RunStats(prior_seconds=run_dir.trained_seconds())
        # CPU-seconds of the run, its engine processes included (issue #13).
        self.cpu = CpuClock(prior=run_cpu_seconds(run_dir) or 0.0)
        self._stop_reason: str | None = None
        self._unusable_checkpoints: set[Path] = set()  # replaced when their step comes again

        model, optimizer_state, step = self._load_latest_or_new()
        self.learner = Learner.from_config(
            model, cfg.train, optimizer_state=optimizer_state, step=step
        )
        self.stats.steps = step
        self.checkpoint_name = self._checkpoint_label(step)
        # With a learner thread the search and the learner each take one core.
        self._threads = 1 if cfg.train.learner_thread else cfg.train.threads

        self.crowd: Crowd | None = None
        # Games record the player's own name ("heuristic:greedy"); the curriculum speaks
        # of members ("greedy").
        self._member_of: dict[str, str] = {}
        self.games: GameSource = self._open_games(draw_member, workers)
        self.learner.model.train()
        if cfg.train.mode == "crowd":
            # A frozen-network member sets torch's (process-wide) thread count for its
            # own evaluator; the run's setting wins.
            set_torch_threads(self._threads)

        # After the crowd: replaying the stored games also restores its curriculum.
        rule = None
        if cfg.train.window_min_rows > 0:
            rule = WindowRule(
                cfg.train.window_min_rows, cfg.train.window_exponent, cfg.train.window_growth
            )
        self.replay = ReplayWindow(
            cfg.board.size,
            cfg.net.features,
            cfg.train.replay_window,
            rows="all" if cfg.train.value_on_all_positions else "policy",
            rule=rule,
        )
        # Training steps owed to the rows that arrived; the condition guards it and wakes
        # the learner thread (and a generator waiting for the learner to catch up).
        self._credit = 0.0
        self._credit_changed = threading.Condition()
        self._replay_lock = threading.Lock()
        # Held while the weights change (an optimiser step) or are written to a file.
        self._model_lock = threading.RLock()
        self._rebuild_replay()
        self._learn_rng = np.random.default_rng(cfg.train.seed + 7919 + step)
        self._learner_error: BaseException | None = None
        self._cores = CoreMeter()
        self.cores_used: tuple[float, float | None] = (0.0, None)  # over the last 10 s
        self._cores_read = time.monotonic()

    # -- set-up --------------------------------------------------------------
    def _load_latest_or_new(self) -> tuple[PolicyValueNet, dict | None, int]:
        """The newest checkpoint that loads; a corrupt newest one falls back to the one before.

        NoUsableCheckpoint when there are checkpoints and none loads: starting over at
        step 0 would overwrite later steps' files, so it must be asked for.
        """
        from crowdzero.train.run_dir import NoUsableCheckpoint

        reasons: list[str] = []

        def unusable(path: Path, reason: str) -> None:
            self._unusable_checkpoints.add(path)
            reasons.append(reason)

        ckpt = newest_loadable_checkpoint(
            self.run_dir.checkpoints_dir,
            board_size=self.config.board.size,
            expect_planes=self.config.net.input_planes,
            on_unusable=unusable,
        )
        if ckpt is not None:
            log.info("resuming from %s (step %d)", ckpt.path.name, ckpt.step)
            model = ckpt.build_model()
            return model, dict(ckpt.optimizer_state) if ckpt.optimizer_state else None, ckpt.step
        paths = self.run_dir.checkpoint_paths()
        if paths:
            folder = self.run_dir.checkpoints_dir
            self.store.close()
            raise NoUsableCheckpoint(
                f"none of the {len(paths)} checkpoints in {folder} loads (newest: "
                f"{reasons[0]}), so the network cannot resume; nothing was changed. To "
                f"start the network over at step 0 on purpose, keeping the stored games, "
                f"move them aside (mv {folder} {folder}.unusable) and resume; or start a new "
                "run with --run NEW_FOLDER"
            )
        return PolicyValueNet(self.config.net), None, 0

    def _rebuild_replay(self) -> None:
        """Refill the window from the stored games (the store is the truth).

        Games are replayed oldest first into the ring, which keeps the newest; replaying
        a 9x9 game costs about a millisecond, so even long runs resume in seconds. The
        agent's results go back into the recent scores and the curriculum, so a resumed
        run draws its opponents as the run it continues did. No training credit: these
        positions were learned from before.
        """
        for game_id, game in self.store.iter_games():
            if self._add_to_window(game_id, game) is not None:
                self._record_result(game)
        self.stats.games = self.store.count_games()
        if self.replay.games_added:
            log.info("replay window rebuilt: %d positions", len(self.replay))

    def _open_games(
        self,
        draw_member: Callable[[np.random.Generator], Player] | None,
        workers: WorkerSettings | None,
    ) -> GameSource:
        """The run's source of games: its own generator, or Ray workers (each with its own
        crowd); either way the crowd's curriculum is kept here, from the stored results."""
        cfg = self.config
        crowd_mode = cfg.train.mode == "crowd"
        if workers is not None:
            if draw_member is not None:
                raise ValueError("Ray workers build their crowd from the run's config")
            from crowdzero.train.ray_workers import RayGames

            if crowd_mode:  # the curriculum only: the workers start the engines
                self.crowd = Crowd.load(
                    cfg.train.crowd, build_players=False, board_size=cfg.board.size
                )
            crowd = self.crowd
            ray_games = RayGames(
                cfg,
                workers,
                self.learner.model,
                self.learner.step,
                seed=int(self.rng.integers(2**31)),
                checkpoint=lambda: self.checkpoint_name,
                draw_weights=crowd.weights if crowd is not None else None,
                agent_name=AGENT_NAME,
            )
            self._member_of = ray_games.members
            return ray_games
        if crowd_mode and draw_member is None:  # tests and studies may bring their own
            crowd = self.crowd = Crowd.load(cfg.train.crowd, board_size=cfg.board.size)
            self._member_of = {crowd.player(name).name: name for name in crowd.names}

            def draw_member(rng: np.random.Generator) -> Player:
                return crowd.player(crowd.sample(rng))

        generator = GameGenerator(
            cfg,
            TorchEvaluator(self.learner.model, threads=self._threads),
            rng=self.rng,
            weights_step=self.learner.step,
            checkpoint=lambda: self.checkpoint_name,
            draw_member=draw_member,
            agent_name=AGENT_NAME,
            advice=self.crowd.advice if self.crowd is not None else (),
        )
        return LocalGames(generator)

    def _local(self) -> LocalGames:
        if not isinstance(self.games, LocalGames):
            raise AttributeError("a run with Ray workers has no runner or agent in this process")
        return self.games

    @property
    def runner(self) -> MatchRunner:
        """The in-process runner (a run without workers), for tests and benchmarks."""
        return self._local().generator.runner

    @property
    def agent(self) -> AgentPlayer:
        """The in-process agent (a run without workers)."""
        return self._local().generator.agent

    def _next_pairing(self) -> Pairing:
        return self._local().generator.next_pairing()

    @property
    def weights_step(self) -> int:
        """The step of the oldest weights the agent still plays with."""
        return self.games.weights_step

    def _checkpoint_label(self, step: int) -> str:
        return f"{self.run_dir.name}@{step}"

    # -- the loop ------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        self._stop_reason = reason

    def run(self, on_progress: Callable[[TrainingRun], None] | None = None) -> str:
        """Play and learn until the time or games budget ends or a stop is requested; returns
        why."""
        cfg = self.config.train
        deadline = time.monotonic() + cfg.minutes * 60 if cfg.minutes > 0 else None
        previous = _install_signal_handlers(self)
        last_progress = 0.0
        learner = None
        if cfg.learner_thread:
            learner = threading.Thread(target=self._learner_loop, name="learner", daemon=True)
            learner.start()
        try:
            while self._stop_reason is None:
                if learner is not None and self._too_far_behind():
                    pass  # the learner owes many steps: let it catch up before playing on
                else:
                    self._store(self.games.collect())
                    self._ingest_new_games()
                if learner is None:
                    self._learn()
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    self._stop_reason = f"time budget of {cfg.minutes:g} minutes reached"
                if cfg.games and self.stats.games >= cfg.games:
                    self._stop_reason = f"{cfg.games} games reached"
                if now - self._cores_read >= 10.0:
                    self.cores_used, self._cores_read = self._cores.read(), now
                if on_progress is not None and now - last_progress > 0.5:
                    on_progress(self)
                    last_progress = now
            self._store(self.games.drain())  # what workers finished: nothing is played on
        finally:
            _restore_signal_handlers(previous)
            if learner is not None:
                with self._credit_changed:
                    self._credit_changed.notify_all()
                learner.join()
            try:
                self.save_checkpoint()
            finally:
                self.close()  # engines and threads go even if the checkpoint cannot be written
        if self._learner_error is not None:
            raise RuntimeError("the learner thread failed") from self._learner_error
        return self._stop_reason or "stopped"

    def _too_far_behind(self) -> bool:
        """Wait (briefly) while the learner owes more steps than allowed; True if it still does."""
        limit = self.config.train.max_steps_behind
        with self._credit_changed:
            if self._credit <= limit:
                return False
            self._credit_changed.wait(timeout=0.1)
            return self._credit > limit

    def _store(self, collected: Collected) -> None:
        for finished in collected.finished:
            self._on_finished(finished)
        for reason in collected.dropped:
            self._on_dropped(reason)

    def _on_finished(self, finished: FinishedGame) -> None:
        # Stored first: what is learned always comes back out of the store.
        try:
            self.store.add_game(finished.game, source="train")
        except DuplicateGame:
            self.stats.duplicates += 1
            log.warning("game %s was delivered twice; stored once", finished.uid)
            return
        self.stats.moves += len(finished.game.moves)

    def _on_dropped(self, reason: str) -> None:
        self.stats.dropped += 1
        log.warning("dropped game: %s", reason)

    def _ingest_new_games(self) -> None:
        """Learn from every game stored since the last look: ours and other writers' (the web)."""
        if self.store.last_game_id() <= self.replay.last_game_id:
            return
        for game_id, game in self.store.iter_games(since_id=self.replay.last_game_id):
            added = self._add_to_window(game_id, game)
            if added is None:
                continue
            self.stats.positions += added
            with self._credit_changed:
                self._credit += (
                    added * self.config.train.sample_reuse / self.config.train.batch_size
                )
                self._credit_changed.notify_all()
            self._record_result(game)
            self._check_resignation(game)
        self.stats.games = self.store.count_games()

    def _add_to_window(self, game_id: int, game: Game) -> int | None:
        """Positions added from one stored game, or None when it does not replay: one bad
        game (hand-edited, older rules) is logged and skipped, never a stopped run."""
        try:
            with self._replay_lock:
                return self.replay.add_game(game, game_id)
        except UnplayableGame as e:
            self.stats.unplayable += 1
            log.warning("skipping a stored game that does not replay: %s", e)
            return None

    def _record_result(self, game: Game) -> None:
        """The agent's score in a game against one opponent, for the panel and curriculum."""
        if game.agent_colour not in (BLACK, WHITE):
            return
        opponent = game.white if game.agent_colour == BLACK else game.black
        score = game.score_for(game.agent_colour)
        self.stats.record(opponent, score)
        member = self._member_of.get(opponent)
        if self.crowd is not None and member is not None:
            self.crowd.update([(member, score)])

    def _check_resignation(self, game: Game) -> None:
        """In a game where the agent could not resign, would its rule have fired, and did
        it win anyway? (KataGo's way to keep the resign threshold honest.)"""
        if game.metadata.get("resign_allowed") != "False" or game.agent_colour not in (
            BLACK,
            WHITE,
        ):
            return
        values = [
            m.root_value
            for m in game.moves
            if m.colour == game.agent_colour and m.root_value is not None
        ]
        search = self.config.search
        fired = would_resign_at(values, search.resign_threshold, search.resign_consecutive)
        if fired is None:
            return
        self.stats.resign_checks += 1
        if game.winner == game.agent_colour:
            self.stats.false_resigns += 1

    def _learn(self) -> None:
        """Inline learning (no learner thread): the steps the new rows paid for."""
        while self._stop_reason is None and self._credit >= 1.0:
            if not self._train_one_step():
                return

    def _learner_loop(self) -> None:
        """The learner thread: a step whenever one is owed, until the run stops."""
        set_torch_threads(1)
        try:
            while self._stop_reason is None:
                with self._credit_changed:
                    if self._credit < 1.0 or len(self.replay) < self.config.train.min_replay:
                        self._credit_changed.wait(timeout=0.2)
                        continue
                self._train_one_step()
        except BaseException as exc:  # surfaced by run() after the loop stops
            log.exception("the learner thread failed")
            self._learner_error = exc
            self._stop_reason = f"learner failed: {exc}"

    def _train_one_step(self) -> bool:
        """Sample, step, and do what falls due at this step (metrics, weights for the
        agent, a checkpoint). False when the window is still too small to train."""
        cfg = self.config.train
        if len(self.replay) < cfg.min_replay:
            return False
        with self._replay_lock:
            batch = self.replay.sample(
                cfg.batch_size, self._learn_rng, augment=cfg.symmetry_augmentation
            )
        with self._model_lock:
            self.stats.last_loss = self.learner.train_step(batch)
        self.stats.steps = self.learner.step
        with self._credit_changed:
            self._credit -= 1.0
            self._credit_changed.notify_all()
        step = self.learner.step
        if step % 10 == 0:
            self._write_metrics()
        if step % cfg.refresh_every == 0:
            self.games.new_weights(self.learner.model, step)
            self.learner.model.train()
        if step % cfg.checkpoint_every == 0:
            self.save_checkpoint()
        return True

    def _write_metrics(self) -> None:
        loss = self.stats.last_loss
        positions = max(self.replay.positions_added, 1)
        ours, machine = self.cores_used
        row: dict[str, float | int | str] = {
            "elapsed_s": round(self.stats.elapsed, 1),
            "wall_s": round(self.stats.wall, 1),
            CPU_COLUMN: round(self.cpu.total(), 1),
            "step": self.learner.step,
            "games": self.stats.games,
            "positions": len(self.replay),
            "rows_added": self.replay.positions_added,
            "window": self.replay.window,
            # Every step drew batch_size rows; rows rebuilt on resume count as added.
            "samples_per_position": round(
                self.learner.step * self.config.train.batch_size / positions, 3
            ),
            "agent_batch_fill": round(self.games.agent_batch_fill, 3),
            "cores_process": round(ours, 2),
            "cores_machine": "" if machine is None else round(machine, 2),
            "weights_lag_steps": self.learner.step - self.weights_step,
            "resign_checks": self.stats.resign_checks,
            "false_resign_rate": ""
            if self.stats.false_resign_rate is None
            else round(self.stats.false_resign_rate, 3),
        }
        if loss is not None:
            row |= {
                "loss": round(loss.total, 5),
                "policy_loss": round(loss.policy, 5),
                "value_loss": round(loss.value, 5),
                "ownership_loss": round(loss.ownership, 5),
                "score_loss": round(loss.score, 5),
                "opponent_policy_loss": round(loss.opponent_policy, 5),
                "policy_entropy": round(loss.policy_entropy, 5),
                "target_entropy": round(loss.target_entropy, 5),
                "policy_rows": round(loss.policy_rows, 3),
                "mean_sample_age": round(loss.mean_age, 1),
                "learning_rate": f"{loss.learning_rate:.3g}",
            }
        self.run_dir.append_metrics(row)

    def save_checkpoint(self) -> Path | None:
        """Write the current weights atomically, from any thread.

        The model lock keeps the learner thread's optimiser step out while the weights are
        hashed and written: without it a checkpoint saved from the game loop (a mark, the
        benchmark's snapshots) could mix two steps' weights and fail its checksum.
        """
        with self._model_lock:
            return self._save_checkpoint()

    def _save_checkpoint(self) -> Path | None:
        step = self.learner.step
        path = self.run_dir.checkpoint_path(step)
        if path.exists() and path not in self._unusable_checkpoints:
            return None  # this step's weights are written (the run resumed from them)
        self._unusable_checkpoints.discard(path)
        save_checkpoint(
            path,
            self.learner.model,
            optimizer=self.learner.optimizer,
            step=step,
            metadata={
                "run": self.run_dir.name,
                "mode": self.config.train.mode,
                "games_seen": self.replay.games_added,
                # How these weights search, so a checkpoint copied out of its run still
                # plays as it trained (`checkpoint:FILE` players read it).
                "search": dataclasses.asdict(self.config.search),
            },
        )
        self.store.add_checkpoint(step, str(path), self.replay.games_added)
        self.checkpoint_name = self._checkpoint_label(step)
        log.info("checkpoint %s written", path.name)
        return path

    def close(self) -> None:
        self.games.close()
        if self.crowd is not None:
            self.crowd.close()
        self.store.close()


def _resume_salt(run_dir: RunDir, store: GameStore) -> int:
    """A different random stream after each resume, so games are not replayed exactly.

    Both counts only grow, and a session that stored a game or wrote a checkpoint grows
    one of them: the checkpoint count alone stays put when a session stops at a step
    whose checkpoint exists, and the next session would replay its games move for move.
    """
    return len(run_dir.checkpoint_paths()) + store.last_game_id()


_Handler = Callable[[int, FrameType | None], object] | int | None


def _install_signal_handlers(run: TrainingRun) -> dict[int, _Handler]:
    """SIGINT/SIGTERM ask the loop to stop at the next move; a second Ctrl-C aborts."""
    previous: dict[int, _Handler] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        if run._stop_reason is not None:
            raise KeyboardInterrupt
        run.request_stop(f"{signal.Signals(signum).name} received")

    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not the main thread (tests, a server): Ctrl-C then raises as usual.
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, _Handler]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)

"""Where games come from: the run's own process, or Ray workers on a two-node cluster.

The Ray tests use real Ray (`ray.cluster_utils.Cluster`: two nodes on this machine, one
CPU each, so the two workers land one on each node), a 5x5 board, a 1-block net and a
crowd of random and heuristic players.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from ray_cluster import PATIENT_RAY, start_cluster
from rich.console import Console
from tiny_run import TINY_CROWD, TINY_RUN
from training_thread import training_in_background, wait_while_training
from web_visitor import resign_after_the_agents_opening

from crowdzero.analysis.ratings import ratings_main
from crowdzero.go.coords import BLACK, WHITE
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.net.model import PolicyValueNet
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.game_source import GameGenerator, WorkerSettings
from crowdzero.train.run_dir import RunDir
from crowdzero.train.training_run import AGENT_NAME, TrainingRun

TINY = {
    **TINY_RUN,
    "train.concurrent_games": 4,
    "train.checkpoint_every": 5,
    "train.refresh_every": 2,  # new weights every other step: moves of one game differ
}

#: Small orders: results come back often, so a short test sees many of them.
SETTINGS = WorkerSettings(2, games_per_order=2, seconds_per_order=1.0, start_timeout=900)


def _crowd_run(tmp_path: Path) -> RunDir:
    crowd = tmp_path / "crowd.toml"
    crowd.write_text(TINY_CROWD)
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "crowd", "train.crowd": str(crowd)})
    return RunDir.create(tmp_path / "run", cfg)


def _train(
    run: TrainingRun, games: int, also: Callable[[TrainingRun], None] | None = None
) -> TrainingRun:
    """Run until the store holds `games` more games than now (then it stops and closes);
    `also` is called with the run twice a second meanwhile."""
    target = run.store.count_games() + games

    def watch(r: TrainingRun) -> None:
        if also is not None:
            also(r)
        if r.store.count_games() >= target:
            r.request_stop("enough games")

    run.run(on_progress=watch)
    return run


def _check_games(run_dir: RunDir) -> int:
    """Every stored game is complete, unique and replays legally; each agent move, and
    only an agent move, says which weights it was searched with. Returns the count."""
    with GameStore(run_dir.games_path) as store:
        assert store.integrity_check(replay=True) == []
        games = list(store.iter_games())
        uids = [game.metadata["uid"] for _, game in games]
        assert len(set(uids)) == len(uids)
        for game_id, game in games:
            assert game.result != "?" and game.agent_colour in (BLACK, WHITE)
            steps = store.weights_steps(game_id)
            assert len(steps) == len(game.moves)
            for move, step in zip(game.moves, steps, strict=True):
                if move.player == AGENT_NAME:
                    assert step is not None and step >= 0
                else:
                    assert step is None and move.policy is None
    return len(games)


def _policy_targets(run: TrainingRun) -> int:
    """The agent's searched moves in the games the run learned from (the games workers
    finished as it stopped are stored, and learned from when it resumes)."""
    with GameStore(run.run_dir.games_path) as store:
        games = [g for gid, g in store.iter_games() if gid <= run.replay.last_game_id]
    return sum(m.policy is not None for g in games for m in g.moves)


def test_a_single_process_run_stores_each_moves_weights_and_a_uid(tmp_path: Path) -> None:
    run_dir = _crowd_run(tmp_path)
    run = _train(TrainingRun(run_dir), games=8)
    assert _check_games(run_dir) >= 8
    with GameStore(run_dir.games_path) as store:
        steps = {s for gid, _ in store.iter_games() for s in store.weights_steps(gid)}
    assert len(steps - {None}) > 1  # the weights changed while games were played
    assert run.replay.policy_rows_added == _policy_targets(run)


def _generator(cfg: RunConfig) -> GameGenerator:
    """The `GameGenerator` a worker (and `LocalGames`) builds for a run with this config,
    on a fresh network."""
    return GameGenerator(
        cfg,
        TorchEvaluator(PolicyValueNet(cfg.net), threads=1),
        rng=np.random.default_rng(0),
        weights_step=0,
        checkpoint=lambda: None,
        draw_member=None,
        agent_name=AGENT_NAME,
    )


def test_the_generator_a_worker_runs_waits_for_engines_as_the_run_says() -> None:
    """`GameWorker` builds its `GameGenerator` from the run's config, as `LocalGames`
    does: the agent's search waits for engines in both layouts, by the same settings."""
    settings = {
        "train.agent_search_wait": 0.02,
        "train.agent_search_min_fill": 0.6,
        "train.crowd_threads": 3,
    }
    generator = _generator(apply_overrides(RunConfig(), {**TINY, "train.mode": "self", **settings}))
    try:
        assert generator.runner.learner_wait == 0.02
        assert generator.runner.learner_min_fill == 0.6
        assert generator.runner.threads == 3
        assert generator.step().dropped == []
    finally:
        generator.close()
    defaults = RunConfig().train
    assert defaults.agent_search_wait > 0 and defaults.agent_search_min_fill < 1
    by_default = apply_overrides(RunConfig(), {**TINY, "train.mode": "self"})
    generator = _generator(by_default)
    try:  # one thread per game: a quick engine never queues behind a slow one
        assert generator.runner.threads == by_default.train.concurrent_games
    finally:
        generator.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """Two Ray nodes on this machine, one CPU each, with this process as the driver."""
    import ray

    os.environ.update({k: v for k, v in PATIENT_RAY.items() if k not in os.environ})
    cluster = start_cluster(nodes=2)
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.timeout(1800)
def test_a_worker_killed_mid_game_loses_only_its_unfinished_games(
    cluster: object, tmp_path: Path
) -> None:
    from crowdzero.train.ray_workers import RayGames

    run_dir = _crowd_run(tmp_path)
    run = TrainingRun(run_dir, workers=SETTINGS)
    source = run.games
    assert isinstance(source, RayGames)
    nodes: set[str] = set()
    killed: list[int] = []
    games_at_kill: list[int] = []

    def kill_one_worker_mid_game(r: TrainingRun) -> None:
        workers = source.workers
        nodes.update(w.node_id for w in workers if w.node_id is not None)
        victim = workers[0]
        if not killed and len(nodes) == 2 and r.stats.games >= 4 and victim.live_games:
            killed.append(victim.pid or 0)
            games_at_kill.append(victim.games)
            os.kill(victim.pid or 0, signal.SIGKILL)

    trainer = threading.Thread(target=_train, args=(run, 1000, kill_one_worker_mid_game))
    trainer.start()
    deadline = time.monotonic() + 1500
    try:
        # Goes on until the killed worker is back and has finished games again.
        while not (
            killed and source.workers[0].restarts and source.workers[0].games > games_at_kill[0] + 2
        ):
            assert trainer.is_alive(), "the run stopped"
            assert time.monotonic() < deadline, f"no restart and new games: {source.status}"
            time.sleep(1.0)
    finally:
        run.request_stop("test over")
        trainer.join(300)
    assert not trainer.is_alive()
    assert len(nodes) == 2  # one worker on each node
    assert source.workers[0].pid != killed[0]
    assert source.workers[1].restarts == 0  # the other worker never noticed
    stored = _check_games(run_dir)
    assert stored >= 8 and run.stats.duplicates == 0
    # The agent's policy-target rows are exactly its searched moves, from every worker.
    assert run.replay.policy_rows_added == _policy_targets(run)
    assert "1 restarted" in source.status and not source.status.endswith(" 0 unfinished games lost")
    out = io.StringIO()
    assert ratings_main(run_dir.path, console=Console(file=out, width=200)) == 0
    assert f"{run_dir.name}@" in out.getvalue()  # the agent's checkpoints are rated


@pytest.mark.timeout(1800)
def test_a_run_made_with_workers_resumes_with_and_without_them(
    cluster: object, tmp_path: Path
) -> None:
    run_dir = _crowd_run(tmp_path)
    one_worker = WorkerSettings(1, games_per_order=2, seconds_per_order=1.0, start_timeout=900)
    first = _train(TrainingRun(run_dir, workers=one_worker), games=6)
    with GameStore(run_dir.games_path) as store:
        before = dict(store.iter_games())

    alone = TrainingRun(RunDir.open(run_dir.path))
    assert alone.learner.step == first.learner.step  # from the checkpoint it stopped at
    assert alone.replay.games_added == len(before)  # the workers' games are learned from
    _train(alone, games=3)
    again = TrainingRun(RunDir.open(run_dir.path), workers=one_worker)
    assert again.learner.step == alone.learner.step
    _train(again, games=3)

    with GameStore(run_dir.games_path) as store:
        after = dict(store.iter_games())
    assert all(after[gid] == game for gid, game in before.items())  # nothing lost or changed
    assert len(after) >= len(before) + 6
    assert _check_games(run_dir) == len(after)


@pytest.mark.timeout(1800)
def test_a_persons_web_game_enters_a_run_made_with_workers(cluster: object, tmp_path: Path) -> None:
    """The web page serves the run's newest checkpoint and stores its games in the run's
    store; the driver, not a worker, learns from them, so workers change nothing for it."""
    from crowdzero.train.ray_workers import RayGames

    run_dir = _crowd_run(tmp_path)
    one_worker = WorkerSettings(1, games_per_order=2, seconds_per_order=1.0, start_timeout=900)
    run = TrainingRun(run_dir, workers=one_worker)
    assert isinstance(run.games, RayGames)
    with training_in_background(run, stop_within=300) as trainer:
        web_id, web_game = resign_after_the_agents_opening(run_dir, "bo", seconds=120)
        assert web_game.white == "human:bo" and web_game.agent_colour == BLACK
        assert any(m.policy is not None for m in web_game.moves)

        deadline = time.monotonic() + 600
        wait_while_training(
            lambda: web_id in set(run.replay.game_ids().tolist()),
            trainer,
            deadline,
            "the web game never reached the replay window",
        )
        # The worker's games are learned from beside it.
        wait_while_training(
            lambda: run.replay.games_added >= 3,
            trainer,
            deadline,
            "no worker game reached the replay window",
        )
    with GameStore(run_dir.games_path) as store:
        assert store.integrity_check(replay=True) == []
        assert store.count_games() >= 3

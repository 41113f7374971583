"""Training runs: crowd vs self mode, what is learned from, and surviving kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_run import TINY_RUN
from training_thread import training_in_background

from crowdzero.go.coords import BLACK, WHITE
from crowdzero.net.checkpoint import CheckpointError
from crowdzero.play.match_runner import BOTH
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.play.record import Game, Move
from crowdzero.store.game_store import GameStore, StoreError
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.replay import TrainingBatch
from crowdzero.train.run_dir import RunDir
from crowdzero.train.training_run import TrainingRun

TINY = {
    **TINY_RUN,
    "train.concurrent_games": 4,
    "train.checkpoint_every": 5,
}


class OddPointPlayer(Player):
    """Plays C1 whenever it is legal, else passes: a move no agent target may copy."""

    name = "odd"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        position = request.position
        point = 2  # C1 on 5x5
        return MoveChoice(point if position.is_legal(point) else position.pass_point)


def _run(tmp_path: Path, mode: str, games: int, member: Player | None = None) -> TrainingRun:
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": mode})
    run_dir = RunDir.create(tmp_path / mode, cfg)
    run = TrainingRun(run_dir, draw_member=(lambda rng: member) if member else None)
    return _play(run, games)


def _play(run: TrainingRun, games: int) -> TrainingRun:
    """Run until the store holds `games` more games than now, then stop (and close)."""
    target = run.store.count_games() + games

    def stop_when_done(r: TrainingRun) -> None:
        if r.store.count_games() >= target:
            r.request_stop("enough games")

    run.runner.concurrency = 4
    original_step = run.runner.step

    def step(wait_seconds: float = 0.05):  # type: ignore[no-untyped-def]
        out = original_step(wait_seconds)
        stop_when_done(run)
        return out

    run.runner.step = step  # type: ignore[method-assign]
    run.run()
    return run


def test_crowd_mode_never_trains_its_policy_on_opponent_moves(tmp_path: Path) -> None:
    run = _run(tmp_path, "crowd", games=6, member=OddPointPlayer())
    with GameStore(run.run_dir.games_path) as store:
        games = list(store.iter_games())
    assert len(games) >= 6
    targets = moves = 0
    for _, game in games:
        assert game.agent_colour in (BLACK, WHITE)
        assert {game.black, game.white} == {"agent", "odd"}
        for move in game.moves:
            if move.colour != game.agent_colour:
                assert move.policy is None and move.root_value is None
            else:
                assert move.root_value is not None  # cheap searches keep a value
            targets += move.policy is not None
            moves += 1
    assert targets > 0
    # Every position is a row (value, ownership and score learn both seats); exactly the
    # agent's searched moves carry a policy weight, each with the agent to move.
    replay = run.replay
    assert replay.positions_added == moves
    assert replay.policy_rows_added == targets
    colour_plane = 2 * run.config.net.history
    agent_colour = {gid: g.agent_colour for gid, g in games}
    to_move = {BLACK: 0, WHITE: 0}
    for i in range(len(replay)):
        black_to_move = bool(replay._features[i, colour_plane].all())
        to_move[BLACK if black_to_move else WHITE] += 1
        if replay._policy_weight[i] > 0:
            assert black_to_move == (agent_colour[int(replay._game_ids[i])] == BLACK)
    assert to_move[BLACK] > 0 and to_move[WHITE] > 0


def test_crowd_mode_trains_value_where_the_opponent_is_to_move(tmp_path: Path) -> None:
    run = _run(tmp_path, "crowd", games=4, member=OddPointPlayer())
    replay = run.replay
    opponent_rows = replay._policy_weight[: len(replay)] == 0
    assert opponent_rows.any()
    # From the mover's view: in a won game the member's rows say "lost" and vice versa.
    with GameStore(run.run_dir.games_path) as store:
        games = dict(store.iter_games())
    colour_plane = 2 * run.config.net.history
    for i in np.flatnonzero(opponent_rows):
        game = games[int(replay._game_ids[i])]
        mover = BLACK if replay._features[i, colour_plane].all() else WHITE
        expected = 0.0 if game.winner == 0 else (1.0 if game.winner == mover else -1.0)
        assert replay._value[i] == expected


def test_self_play_learns_from_every_position(tmp_path: Path) -> None:
    run = _run(tmp_path, "self", games=4)
    with GameStore(run.run_dir.games_path) as store:
        games = [g for _, g in store.iter_games()]
    assert all(g.agent_colour == BOTH and g.black == g.white == "agent" for g in games)
    moves = sum(len(g.moves) for g in games)
    assert run.replay.positions_added == moves
    assert all(m.root_value is not None for g in games for m in g.moves)


def test_switching_mode_changes_only_the_opponent_schedule(tmp_path: Path) -> None:
    runs = {}
    for mode in ("self", "crowd"):
        cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": mode})
        run_dir = RunDir.create(tmp_path / mode, cfg)
        runs[mode] = TrainingRun(run_dir, draw_member=lambda rng: OddPointPlayer())
    a, b = runs["self"], runs["crowd"]
    try:
        assert a.config.search == b.config.search and a.config.net == b.config.net
        assert type(a.learner) is type(b.learner) and type(a.agent) is type(b.agent)
        assert type(a.replay) is type(b.replay) and a.replay.capacity == b.replay.capacity
        # Same seed, same initial weights: the networks are the same network.
        for p, q in zip(a.learner.model.parameters(), b.learner.model.parameters(), strict=True):
            assert np.array_equal(p.detach().numpy(), q.detach().numpy())
        self_pair, crowd_pair = a._next_pairing(), b._next_pairing()
        assert self_pair.black is self_pair.white is a.agent
        assert crowd_pair.black is b.agent and crowd_pair.white.name == "odd"
        assert b._next_pairing().black.name == "odd"  # colours alternate
    finally:
        a.close()
        b.close()


@pytest.mark.timeout(400)
def test_training_survives_sigkill_and_resumes_with_every_game(tmp_path: Path) -> None:
    run = tmp_path / "killed"
    args = [
        sys.executable,
        "-m",
        "crowdzero.cli",
        "train",
        "--run",
        str(run),
        "--mode",
        "self",
        "--quiet",
        "--minutes",
        "10",
    ] + [f"--set={k}={v}" for k, v in TINY.items()]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    store_path = run / "games.sqlite"
    try:
        while time.monotonic() < deadline:
            time.sleep(1.0)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            if store_path.exists() and list((run / "checkpoints").glob("ckpt-*.pt")):
                with GameStore(store_path) as store:
                    if store.count_games() >= 8:
                        break
        else:
            pytest.fail("training produced no games and checkpoint in time")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    with GameStore(store_path) as store:
        assert store.integrity_check(replay=True) == []
        before = {gid: game for gid, game in store.iter_games()}
    assert len(before) >= 8
    run_dir = RunDir.open(run)
    last_step = RunDir.checkpoint_step(run_dir.checkpoint_paths()[0])

    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "crowdzero.cli",
            "train",
            "--resume",
            str(run),
            "--quiet",
            "--minutes",
            "0.4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    with GameStore(store_path) as store:
        assert store.integrity_check() == []
        after = {gid: game for gid, game in store.iter_games()}
    assert all(after[gid] == game for gid, game in before.items())  # nothing lost or changed
    assert len(after) > len(before)  # and training went on
    steps = [RunDir.checkpoint_step(p) for p in run_dir.checkpoint_paths()]
    assert max(steps) >= last_step
    assert "resuming from" in (run / "train.log").read_text()


@pytest.mark.gnugo
@pytest.mark.timeout(300)
def test_crowd_run_goes_on_after_gnugo_is_killed_mid_game(tmp_path: Path, gnugo_path: str) -> None:
    from crowdzero.players.engine_pool import gnugo_player

    gnugo = gnugo_player(0, pool_size=1)
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "crowd"})
    run = TrainingRun(RunDir.create(tmp_path / "run", cfg), draw_member=lambda rng: gnugo)
    try:
        with training_in_background(run, stop_within=60) as trainer:
            deadline = time.monotonic() + 120
            victim = None
            while victim is None:  # wait until GnuGo is in a game, then kill -9 it
                assert time.monotonic() < deadline, "GnuGo never started"
                (status,) = gnugo.pool.status()
                if status.pid is not None and run.runner.moves_played >= 6:
                    victim = status.pid
                    os.kill(victim, signal.SIGKILL)
                time.sleep(0.05)
            games_at_kill = run.store.count_games()
            while run.store.count_games() < games_at_kill + 3:
                assert trainer.is_alive(), "the run died with its engine"
                assert time.monotonic() < deadline, "no games finished after the kill"
                time.sleep(0.2)
            (status,) = gnugo.pool.status()
            assert status.pid != victim  # a new GnuGo took over
    finally:
        gnugo.close()  # the run does not own a member it was handed
    with GameStore(run.run_dir.games_path) as store:
        assert store.integrity_check(replay=True) == []
        assert all("gnugo:0" in (g.black, g.white) for _, g in store.iter_games())


@pytest.mark.timeout(300)
def test_ctrl_c_stops_cleanly_with_a_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "interrupted"
    args = [
        sys.executable, "-m", "crowdzero.cli", "train", "--run", str(run), "--mode", "self",
        "--quiet", "--minutes", "10",
    ] + [f"--set={k}={v}" for k, v in TINY.items()]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 200
    store_path = run / "games.sqlite"
    while time.monotonic() < deadline:
        time.sleep(0.5)
        assert proc.poll() is None
        if store_path.exists():
            with GameStore(store_path) as store:
                if store.count_games() >= 2:
                    break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "SIGINT received" in out + err
    assert list((run / "checkpoints").glob("ckpt-*.pt")), "no checkpoint written on Ctrl-C"
    with GameStore(store_path) as store:
        assert store.integrity_check() == []


def test_a_resumed_run_uses_the_learning_rate_of_its_config(tmp_path: Path) -> None:
    """The optimizer state comes from the checkpoint, the hyper-parameters from the
    config: `--set train.learning_rate=...` on resume must take effect."""
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "self"})
    run_dir = RunDir.create(tmp_path / "r", cfg)
    first = TrainingRun(run_dir)
    first.learner.train_step(_batch(first))
    first.save_checkpoint()
    first.close()
    changed = apply_overrides(cfg, {"train.learning_rate": 1e-5, "train.weight_decay": 0.0})
    resumed = TrainingRun(RunDir(run_dir.path, changed))
    try:
        assert resumed.learner.step == 1
        assert resumed.learner.optimizer.state  # Adam's moments came back...
        for group in resumed.learner.optimizer.param_groups:  # ...with the new settings
            assert group["lr"] == 1e-5 and group["weight_decay"] == 0.0
    finally:
        resumed.close()


def _batch(run: TrainingRun) -> TrainingBatch:
    """A batch of random targets with the run's shapes (enough for one optimizer step)."""
    rng = np.random.default_rng(0)
    b, n, planes = 8, run.config.board.size, run.config.net.input_planes
    policy = rng.random((b, n * n + 1), dtype=np.float32)
    return TrainingBatch(
        features=(rng.random((b, planes, n, n)) < 0.3).astype(np.float32),
        policy=policy / policy.sum(axis=1, keepdims=True),
        value=rng.choice([-1.0, 1.0], size=b).astype(np.float32),
        ownership=rng.choice([-1.0, 0.0, 1.0], size=(b, n * n)).astype(np.float32),
    )


def test_resume_restores_the_curriculum_and_the_recent_scores(tmp_path: Path) -> None:
    """The curriculum's draw depends on the agent's last results against each member;
    a resumed run must draw as the run it continues, not start again from even."""
    crowd = tmp_path / "crowd.toml"
    crowd.write_text(
        "[curriculum]\nenabled = true\n"
        '[[member]]\nname = "rnd"\nspec = "random:1"\n'
        '[[member]]\nname = "noeye"\nspec = "random-noeye:2"\n'
    )
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "crowd", "train.crowd": str(crowd)})
    run_dir = RunDir.create(tmp_path / "r", cfg)
    first = _play(TrainingRun(run_dir), games=6)
    assert first.crowd is not None
    records = first.crowd.records()
    assert sum(r.games for r in records.values()) >= 6
    resumed = TrainingRun(RunDir.open(run_dir.path))
    try:
        assert resumed.crowd is not None
        assert resumed.crowd.records() == records
        assert resumed.crowd.weights() == first.crowd.weights()
        assert resumed.stats.win_rates() == first.stats.win_rates()
    finally:
        resumed.close()


def test_every_resume_draws_a_new_random_stream(tmp_path: Path) -> None:
    """Two sessions that start from the same checkpoint must not replay the same games.

    Stopping before the first training step writes no new checkpoint (step 0 exists),
    so the number of checkpoint files alone cannot tell the sessions apart."""
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "self", "train.min_replay": 10_000})
    run_dir = RunDir.create(tmp_path / "r", cfg)
    streams = []
    for _ in range(3):
        run = TrainingRun(RunDir.open(run_dir.path))
        streams.append(run.rng.bit_generator.state["state"]["state"])
        _play(run, games=2)
    assert [RunDir.checkpoint_step(p) for p in run_dir.checkpoint_paths()] == [0]
    assert len(set(streams)) == 3


def test_a_run_that_cannot_write_its_last_checkpoint_still_closes(tmp_path: Path) -> None:
    """The error is reported, and the store, engines and threads are released anyway."""
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "self"})
    run = TrainingRun(RunDir.create(tmp_path / "r", cfg))
    folder = run.run_dir.checkpoints_dir
    folder.rmdir()
    folder.write_text("a file where the checkpoints folder should be")
    run.request_stop("test")
    with pytest.raises((CheckpointError, OSError)):
        run.run()
    with pytest.raises(StoreError, match="closed"):
        run.store.count_games()


def test_a_frozen_network_in_the_crowd_keeps_the_run_to_its_threads(tmp_path: Path) -> None:
    """train.threads = 1 lets two runs share two cores; a `checkpoint:` member must not
    quietly raise the process-wide torch thread count."""
    import torch

    donor = TrainingRun(RunDir.create(tmp_path / "donor", apply_overrides(RunConfig(), TINY)))
    checkpoint = donor.save_checkpoint()
    donor.close()
    crowd = tmp_path / "crowd.toml"
    crowd.write_text(f"[[member]]\nname = \"frozen\"\nspec = 'checkpoint:{checkpoint}'\n")
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "crowd", "train.crowd": str(crowd)})
    before = torch.get_num_threads()
    try:
        run = TrainingRun(RunDir.create(tmp_path / "r", cfg))
        run.close()
        assert run.config.train.threads == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_corrupt_checkpoint_is_replaced_when_training_reaches_its_step_again(
    tmp_path: Path,
) -> None:
    """Resuming falls back past a corrupt newest checkpoint; reaching that step again
    must write a good one there, not keep the corrupt file as the run's newest."""
    run_dir = RunDir.create(tmp_path / "r", apply_overrides(RunConfig(), TINY))
    first = TrainingRun(run_dir)
    first.save_checkpoint()
    first.close()
    corrupt = run_dir.checkpoint_path(1)
    corrupt.write_bytes(b"not a checkpoint")
    resumed = TrainingRun(RunDir.open(run_dir.path))
    try:
        assert resumed.learner.step == 0  # fell back to step 0
        resumed.learner.train_step(_batch(resumed))
        assert resumed.save_checkpoint() == corrupt
    finally:
        resumed.close()
    from crowdzero.net.checkpoint import load_checkpoint

    assert load_checkpoint(corrupt).step == 1


def test_a_stored_game_that_does_not_replay_is_skipped_on_resume(tmp_path: Path) -> None:
    """One bad game (hand-edited, written under other rules) must not stop every later
    resume: it is skipped, counted, and the run learns from the rest and goes on."""
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "self", "train.min_replay": 10_000})
    run_dir = RunDir.create(tmp_path / "r", cfg)
    _play(TrainingRun(run_dir), games=3)
    store = GameStore(run_dir.games_path)
    ids = [game_id for game_id, _ in store.iter_games()]
    store.close()
    bad = ids[1]
    pass_point = cfg.board.size * cfg.board.size
    with sqlite3.connect(run_dir.games_path) as conn:  # a move onto the stone just played
        rows = conn.execute(
            "SELECT ply, point FROM moves WHERE game_id = ? ORDER BY ply", (bad,)
        ).fetchall()
        ply, point = next((ply, point) for ply, point in rows[:-1] if 0 <= point < pass_point)
        conn.execute(
            "UPDATE moves SET point = ? WHERE game_id = ? AND ply = ?", (point, bad, ply + 1)
        )

    resumed = TrainingRun(RunDir.open(run_dir.path))
    assert resumed.stats.unplayable == 1
    assert bad not in set(resumed.replay.game_ids().tolist())
    assert set(resumed.replay.game_ids().tolist()) == set(ids) - {bad}
    _play(resumed, games=2)
    store = GameStore(run_dir.games_path)
    assert store.count_games() >= len(ids) + 2
    store.close()


def test_the_agent_plays_with_new_weights_long_before_a_checkpoint_file(tmp_path: Path) -> None:
    overrides = {
        **TINY,
        "train.mode": "crowd",
        "train.checkpoint_every": 10_000,
        "train.refresh_every": 2,
        "train.learner_thread": False,
    }
    run_dir = RunDir.create(tmp_path / "r", apply_overrides(RunConfig(), overrides))
    run = _play(TrainingRun(run_dir, draw_member=lambda rng: OddPointPlayer()), games=40)
    assert run.learner.step >= 4
    with GameStore(run_dir.games_path) as store:
        games = [g for _, g in store.iter_games()]
    steps = {int(g.metadata["weights_step"]) for g in games}
    assert max(steps) >= 2  # played by refreshed weights...
    assert {g.checkpoint for g in games} == {"r@0"}  # ...while no checkpoint was written
    metrics = run_dir.read_metrics()
    assert metrics, "metrics.csv has rows"
    for column in (
        "window",
        "samples_per_position",
        "mean_sample_age",
        "target_entropy",
        "agent_batch_fill",
        "cores_process",
        "cpu_s",
        "weights_lag_steps",
        "false_resign_rate",
    ):
        assert column in metrics[-1]
    assert float(metrics[-1]["cpu_s"]) > 0.0


def test_the_false_resignation_rate_counts_no_resign_games_the_agent_won(tmp_path: Path) -> None:
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "crowd"})
    run = TrainingRun(RunDir.create(tmp_path / "r", cfg), draw_member=lambda rng: OddPointPlayer())
    try:
        low = cfg.search.resign_threshold - 0.05
        agent_moves = [Move(BLACK, p, None, low, "agent") for p in (0, 2, 4, 6)]
        member_moves = [Move(WHITE, p, None, None, "odd") for p in (1, 3, 5, 7)]
        moves = tuple(m for pair in zip(agent_moves, member_moves, strict=True) for m in pair)

        def game(winner: int, allowed: str) -> Game:
            return Game(
                cfg.rules,
                "agent",
                "odd",
                moves,
                "?",
                winner,
                "2026-12-02",
                agent_colour=BLACK,
                metadata={"resign_allowed": allowed},
            )

        run._check_resignation(game(BLACK, "False"))  # would have resigned a win
        run._check_resignation(game(WHITE, "False"))  # would have resigned a loss
        run._check_resignation(game(BLACK, "True"))  # resigning was allowed: not a check
        assert run.stats.resign_checks == 2
        assert run.stats.false_resign_rate == 0.5
    finally:
        run.close()


def test_the_live_panel_shows_what_the_learner_is_doing(tmp_path: Path) -> None:
    from rich.console import Console

    from crowdzero.train.progress import progress_panel

    run = _run(tmp_path, "crowd", games=4, member=OddPointPlayer())
    console = Console(record=True, width=160)
    console.print(progress_panel(run))
    text = console.export_text()
    for label in ("samples/pos", "sample age", "target H", "agent batch", "cores", "false resign"):
        assert label in text


def test_the_old_value_rows_are_an_ablation_switch(tmp_path: Path) -> None:
    cfg = apply_overrides(
        RunConfig(), {**TINY, "train.mode": "crowd", "train.value_on_all_positions": False}
    )
    run = TrainingRun(RunDir.create(tmp_path / "r", cfg), draw_member=lambda rng: OddPointPlayer())
    run = _play(run, games=3)
    assert run.replay.positions_added == run.replay.policy_rows_added > 0


def test_checkpoints_saved_from_the_game_loop_while_the_learner_trains_are_whole(
    tmp_path: Path,
) -> None:
    """The learn benchmark saves its marks from the game loop while the learner thread
    steps; a checkpoint hashed at one step and written at the next fails its checksum
    (this happened to a real 9x9 mark). Every file written here must load."""
    from crowdzero.net.checkpoint import load_checkpoint

    overrides = {**TINY, "train.mode": "crowd", "train.learner_thread": True}
    overrides |= {"train.checkpoint_every": 10_000, "train.sample_reuse": 50.0}
    run_dir = RunDir.create(tmp_path / "r", apply_overrides(RunConfig(), overrides))
    run = TrainingRun(run_dir, draw_member=lambda rng: OddPointPlayer())
    original_step = run.runner.step
    saved: set[int] = set()

    def step(wait_seconds: float = 0.05):  # type: ignore[no-untyped-def]
        out = original_step(wait_seconds)
        if run.learner.step not in saved and run.save_checkpoint() is not None:
            saved.add(run.learner.step)
        if len(saved) >= 30 or run.store.count_games() >= 400:
            run.request_stop("enough")
        return out

    run.runner.step = step  # type: ignore[method-assign]
    run.run()
    paths = run_dir.checkpoint_paths()
    assert len(paths) >= 10
    for path in paths:
        load_checkpoint(path)  # raises CheckpointError for a torn file

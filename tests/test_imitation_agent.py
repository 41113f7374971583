"""The imitation agent learns from crowd members' moves and never from the agent's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_run import TINY_RUN, stored_run

from crowdzero.analysis.study import imitation_agent
from crowdzero.analysis.study.collect import load_study_agent, raw_outputs
from crowdzero.analysis.study.imitation_agent import (
    IMITATION_MODE,
    IMITATION_PROGRESS,
    PROGRESS_MODE,
    SNAPSHOTS,
    FitPlan,
    ImitationError,
    build_member_window,
    crowd_compute,
    existing_imitation,
    is_evaluation_game,
    member_targets,
    train_imitation,
)
from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.position import Position
from crowdzero.net.checkpoint import load_checkpoint, save_checkpoint
from crowdzero.net.model import PolicyValueNet
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.play.record import Game
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir

TINY = {
    **TINY_RUN,
    # Off so that "the member's favourite point" stays one point (not its 8 images).
    "train.symmetry_augmentation": False,
}
C1 = 2  # the point the test member always wants (row 0, column C on 5x5)


class CornerLover(Player):
    """Plays C1 whenever it is legal, else the lowest legal point, else passes."""

    name = "corner-lover"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        position = request.position
        legal = np.flatnonzero(position.legal_mask()[:-1])
        if position.is_legal(C1):
            return MoveChoice(C1)
        return MoveChoice(int(legal[0]) if len(legal) else position.pass_point)


def _crowd_run(root: Path, games: int = 8, steps: int = 5) -> RunDir:
    """A crowd-mode run: a checkpoint at `steps` and agent-vs-member games in its store."""
    overrides = {**TINY, "train.mode": "crowd"}
    return stored_run(root / "crowd", overrides, [CornerLover()], games, step=steps)


@pytest.fixture(scope="module")
def crowd_run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    return _crowd_run(tmp_path_factory.mktemp("imitation"))


def _stored(run: RunDir) -> list[tuple[int, Game]]:
    with GameStore(run.games_path) as store:
        return list(store.iter_games())


def test_member_targets_put_one_hot_targets_on_member_moves_only(crowd_run: RunDir) -> None:
    _, game = _stored(crowd_run)[0]
    rewritten = member_targets(game)
    assert rewritten is not None
    for original, move in zip(game.moves, rewritten.moves, strict=True):
        assert move.point == original.point and move.colour == original.colour
        if move.colour == game.agent_colour or move.point == RESIGN:
            assert move.policy is None and move.root_value is None
        else:
            assert move.policy is not None
            assert move.policy[move.point] == 1.0 and sum(move.policy) == 1.0


def test_games_without_a_member_give_no_targets(crowd_run: RunDir) -> None:
    _, game = _stored(crowd_run)[0]
    from dataclasses import replace

    assert member_targets(replace(game, agent_colour=0)) is None
    assert member_targets(replace(game, agent_colour=2)) is None  # self-play


def test_imitation_learner_trains_only_on_crowd_moves(crowd_run: RunDir) -> None:
    games = _stored(crowd_run)
    window = build_member_window(games, 5, 2, 10_000, holdout_every=4)
    expected = 0
    for game_id, game in games:
        if is_evaluation_game(game_id, 4):
            continue
        member = -game.agent_colour
        expected += sum(mv.colour == member and mv.point != RESIGN for mv in game.moves)
    assert len(window) == expected > 0
    assert all(not is_evaluation_game(int(g), 4) for g in window.game_ids())
    batch = window.sample(len(window) * 4, np.random.default_rng(0), augment=False)
    # Every target is one-hot: the agent's search targets (soft distributions) never enter.
    assert np.all(batch.policy.max(axis=1) == 1.0)
    assert np.allclose(batch.policy.sum(axis=1), 1.0)


def test_the_member_seat_is_the_side_to_move_in_every_window_position(crowd_run: RunDir) -> None:
    # The colour plane is all ones exactly when black is to move.
    games = _stored(crowd_run)
    assert {g.agent_colour for _, g in games} == {BLACK, WHITE}
    for game_id, game in games:
        one = build_member_window([(game_id, game)], 5, 2, 1000, holdout_every=0)
        if len(one) == 0:
            continue
        batch = one.sample(200, np.random.default_rng(1), augment=False)
        colour = one.feature_spec.colour_plane
        black_to_move = batch.features[:, colour].reshape(len(batch.features), -1).all(axis=1)
        assert np.all(black_to_move == (game.agent_colour == WHITE))


def test_imitation_checkpoint_is_standard_and_reused(tmp_path: Path, crowd_run: RunDir) -> None:
    out = tmp_path / "imitation"
    result = train_imitation(crowd_run, out, FitPlan(threads=1, holdout_every=4))
    assert result.steps == result.target_steps == result.crowd_steps == 5
    assert not result.reused and result.positions > 0
    checkpoint = load_checkpoint(result.checkpoint, board_size=5)
    assert Path(result.checkpoint).name == "ckpt-00000005.pt"
    assert checkpoint.step == 5 and checkpoint.metadata["mode"] == IMITATION_MODE
    assert checkpoint.config == crowd_run.config.net  # the same network as the crowd agent
    again = train_imitation(crowd_run, out, FitPlan(threads=1, holdout_every=4))
    assert again.reused and again.checkpoint == result.checkpoint and again.steps == 5


def test_imitation_agent_learns_the_members_favourite_move(
    tmp_path: Path, crowd_run: RunDir
) -> None:
    plan = FitPlan(steps=150, threads=1, holdout_every=0)
    result = train_imitation(crowd_run, tmp_path / "imitation", plan)
    agent = load_study_agent("imitation", Path(result.checkpoint), crowd_run.config.search)
    try:
        policy, _ = raw_outputs(agent.evaluator, [Position(crowd_run.config.rules)])
    finally:
        agent.close()
    assert int(np.argmax(policy[0])) == C1


def test_a_run_without_member_moves_cannot_train_an_imitation_agent(tmp_path: Path) -> None:
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "crowd"})
    run = RunDir.create(tmp_path / "empty", cfg)
    save_checkpoint(run.checkpoint_path(3), PolicyValueNet(cfg.net), step=3)
    with pytest.raises(ImitationError, match="no crowd-member moves"):
        train_imitation(run, tmp_path / "out", FitPlan(threads=1))


def test_the_crowd_runs_wall_time_counts_every_session_of_a_resumed_run(tmp_path: Path) -> None:
    """A run trained over two sessions: elapsed_s restarted at the resume, wall_s did not."""
    cfg = apply_overrides(RunConfig(), {**TINY, "train.mode": "crowd"})
    run = RunDir.create(tmp_path / "resumed", cfg)
    save_checkpoint(run.checkpoint_path(7), PolicyValueNet(cfg.net), step=7)
    run.append_metrics({"elapsed_s": 5400.0, "wall_s": 5400.0, "step": 4})
    run.append_metrics({"elapsed_s": 600.0, "wall_s": 6000.0, "step": 7})
    assert crowd_compute(run) == (7, 6000.0)
    old = RunDir.create(tmp_path / "old", cfg)  # written before wall_s existed
    old.append_metrics({"elapsed_s": 900.0, "step": 1})
    assert crowd_compute(old) == (0, 900.0)


class _Stopped(Exception):
    """The study stopped mid-fit (the session ended, Ctrl-C)."""


def _weights(path: str | Path) -> dict[str, torch.Tensor]:
    return dict(load_checkpoint(path, board_size=5).model_state)


def test_a_stopped_imitation_training_continues_where_it_stopped(
    tmp_path: Path, crowd_run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study stopped mid-fit continues the imitation agent from its unfinished state:
    the same batches, the same final weights as a fit never stopped, its time counted
    over both sessions; an unreadable unfinished state is set aside, not trusted."""
    monkeypatch.setattr(imitation_agent, "PROGRESS_SECONDS", 0.0)
    plan = FitPlan(steps=12, threads=1, holdout_every=4, snapshot_every=4)
    whole = train_imitation(crowd_run, tmp_path / "whole", plan)

    def stop_at_7(step: int, loss: object) -> None:
        if step == 7:
            raise _Stopped

    cut = tmp_path / "cut"
    with pytest.raises(_Stopped):
        train_imitation(crowd_run, cut, plan, stop_at_7)
    unfinished = load_checkpoint(cut / IMITATION_PROGRESS, board_size=5)
    assert unfinished.step == 6 and unfinished.metadata["mode"] == PROGRESS_MODE
    assert existing_imitation(cut, 5) is None  # never taken for the agent
    first_session = unfinished.metadata["cpu_seconds"]

    resumed = train_imitation(crowd_run, cut, plan)
    assert resumed.steps == 12 and not resumed.reused
    assert not (cut / IMITATION_PROGRESS).exists()
    mine, reference = _weights(resumed.checkpoint), _weights(whole.checkpoint)
    assert mine.keys() == reference.keys()
    assert all(torch.equal(mine[k], reference[k]) for k in mine)
    assert load_checkpoint(resumed.checkpoint).metadata["cpu_seconds"] > first_session
    assert sorted(p.name for p in (cut / SNAPSHOTS).iterdir()) == [
        "ckpt-00000004.pt",
        "ckpt-00000008.pt",
    ]

    shorter = tmp_path / "shorter"  # an unfinished fit past the step count asked for now
    with pytest.raises(_Stopped):
        train_imitation(crowd_run, shorter, plan, stop_at_7)
    short = train_imitation(crowd_run, shorter, replace(plan, steps=5))
    assert short.steps == 5 and load_checkpoint(short.checkpoint).step == 5

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / IMITATION_PROGRESS).write_bytes(b"not a checkpoint")
    fresh = train_imitation(crowd_run, broken, plan)
    assert all(torch.equal(_weights(fresh.checkpoint)[k], reference[k]) for k in reference)

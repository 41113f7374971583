"""A person's game played while a crowd run trains enters that run's replay window."""

from __future__ import annotations

import time
from pathlib import Path

from tiny_run import TINY_RUN
from training_thread import training_in_background, wait_while_training
from web_visitor import resign_after_the_agents_opening

from crowdzero.go.coords import BLACK
from crowdzero.players.random import RandomNoEyePlayer
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir
from crowdzero.train.training_run import TrainingRun

TINY = {
    **TINY_RUN,
    "search.gumbel_considered": 4,
    "train.mode": "crowd",
    "train.concurrent_games": 2,
    "train.checkpoint_every": 5,
}


def test_human_game_during_crowd_training_enters_the_replay_window(tmp_path: Path) -> None:
    run_dir = RunDir.create(tmp_path / "run", apply_overrides(RunConfig(), TINY))
    member = RandomNoEyePlayer(seed=1)
    training = TrainingRun(run_dir, draw_member=lambda rng: member)
    with training_in_background(training, stop_within=60) as trainer:
        web_id, web_game = resign_after_the_agents_opening(run_dir, "ann", seconds=60)
        assert web_game.white == "human:ann" and web_game.agent_colour == BLACK
        assert any(m.policy is not None for m in web_game.moves)

        wait_while_training(
            lambda: web_id in set(training.replay.game_ids().tolist()),
            trainer,
            time.monotonic() + 60,
            "the web game never reached the replay window",
        )
        # The crowd games of the run were being played all along.
        assert training.runner.moves_played > 0

"""A person's game played while a crowd run trains enters that run's replay window."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from tiny_run import TINY_RUN

from crowdzero.go.coords import BLACK
from crowdzero.players.random import RandomNoEyePlayer
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir
from crowdzero.train.training_run import TrainingRun
from crowdzero.web.app import WebSettings, create_app

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
    trainer = threading.Thread(target=training.run, daemon=True)
    trainer.start()
    try:
        settings = WebSettings(seed=0, rate=1000.0, burst=1000, checkpoint_poll=3600.0)
        with TestClient(create_app(RunDir.open(run_dir.path), settings)) as client:
            r = client.post("/api/games", json={"nickname": "ann", "size": 5, "colour": "white"})
            assert r.status_code == 201, r.text
            game = r.json()
            state = game
            deadline = time.monotonic() + 60
            while state["status"] == "agent_thinking":  # the agent (black) opens
                assert time.monotonic() < deadline
                state = client.get(
                    f"/api/games/{game['game_id']}", params={"since": state["version"], "wait": 5}
                ).json()
            r = client.post(f"/api/games/{game['game_id']}/resign", json={"token": game["token"]})
            assert r.status_code == 200, r.text

        with GameStore(run_dir.games_path) as store:
            ((web_id, web_game),) = list(store.iter_games(source="web"))
        assert web_game.white == "human:ann" and web_game.agent_colour == BLACK
        assert any(m.policy is not None for m in web_game.moves)

        deadline = time.monotonic() + 60
        while web_id not in set(training.replay.game_ids().tolist()):
            assert trainer.is_alive(), "training stopped"
            assert time.monotonic() < deadline, "the web game never reached the replay window"
            time.sleep(0.2)
        # The crowd games of the run were being played all along.
        assert training.runner.moves_played > 0
    finally:
        training.request_stop("test over")
        trainer.join(60)
    assert not trainer.is_alive()

"""A person who plays one game in the web page while a run trains, for the tests that
check such a game reaches the run (with and without Ray workers)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from crowdzero.play.record import Game
from crowdzero.store.game_store import GameStore
from crowdzero.train.run_dir import RunDir
from crowdzero.web.app import WebSettings, create_app


def resign_after_the_agents_opening(
    run_dir: RunDir, nickname: str, seconds: float
) -> tuple[int, Game]:
    """Start a game as white in the page serving `run_dir`, wait (up to `seconds`) for the
    agent's first move, resign; return the stored game and its id."""
    settings = WebSettings(seed=0, rate=1000.0, burst=1000, checkpoint_poll=3600.0)
    with TestClient(create_app(RunDir.open(run_dir.path), settings)) as client:
        r = client.post("/api/games", json={"nickname": nickname, "size": 5, "colour": "white"})
        assert r.status_code == 201, r.text
        game = state = r.json()
        deadline = time.monotonic() + seconds
        while state["status"] == "agent_thinking":  # the agent (black) opens
            assert time.monotonic() < deadline
            state = client.get(
                f"/api/games/{game['game_id']}", params={"since": state["version"], "wait": 5}
            ).json()
        r = client.post(f"/api/games/{game['game_id']}/resign", json={"token": game["token"]})
        assert r.status_code == 200, r.text
    with GameStore(run_dir.games_path) as store:
        ((web_id, web_game),) = list(store.iter_games(source="web"))
    return web_id, web_game

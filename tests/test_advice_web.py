"""A person in the web page advises the agent (#14): the suggestion box's API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crowdzero.go.coords import gtp_to_point
from crowdzero.play.player import MoveChoice, MoveRequest
from crowdzero.train.run_dir import RunDir
from tests.test_web_api import (
    ScriptedAgent,
    move,
    new_game,
    play,
    refused,
    scripted_client,
    tiny_run,
    wait_for_person,
    web_games,
)
from tests.test_web_browser import CHROMIUM, CHROMIUM_ARGS, server  # noqa: F401 - a fixture


class ListeningAgent(ScriptedAgent):
    """A scripted agent that notes the advice each request carried."""

    def __init__(self, moves: Sequence[str]) -> None:
        super().__init__(moves)
        self.heard: list[str | None] = []

    def select_move(self, request: MoveRequest) -> MoveChoice:
        advice = request.advice
        self.heard.append(None if advice is None else f"{advice.point}:{advice.source}")
        return super().select_move(request)


def advise(client: TestClient, game: dict[str, Any], text: str, token: str | None = None) -> Any:
    return client.post(
        f"/api/games/{game['game_id']}/advice",
        json={"token": game["token"] if token is None else token, "advice": text},
    )


def test_a_persons_suggestion_reaches_the_agents_next_move_and_is_stored(
    tmp_path: Path,
) -> None:
    run = tiny_run(tmp_path)
    agent = ListeningAgent(["A1", "A2", "A3"])
    with scripted_client(run, agent) as client:
        game = new_game(client, "alice", "black")
        r = advise(client, game, "d4")
        assert r.status_code == 200, r.text
        assert r.json()["advice"] == "D4"
        state = play(client, game, "C3")
        assert state["advice"] is None  # used by the agent's move
        state = play(client, game, "E5")  # no suggestion this time
        while not state["over"]:
            state = play(client, game, "pass")
    d4 = gtp_to_point("D4", 5)
    assert agent.heard[:2] == [f"{d4}:human", None]
    [(_, stored)] = web_games(run)
    advised = [m for m in stored.moves if m.advice is not None]
    assert len(advised) == 1 and advised[0].player == "agent"
    assert (advised[0].advice.point, advised[0].advice.source) == (d4, "human")
    assert state["moves"][1]["advice"] == "D4" and state["moves"][1]["advice_source"] == "human"


def test_bad_suggestions_are_refused_like_moves_and_nothing_is_lost(tmp_path: Path) -> None:
    run = tiny_run(tmp_path)
    with scripted_client(run, ListeningAgent(["A1"])) as client:
        game = new_game(client, "bob", "black")
        state = play(client, game, "C3")
        refused(advise(client, game, "C3"), 409, "C3 is occupied")
        refused(advise(client, game, "A1"), 409, "A1 is occupied")
        r = advise(client, game, "Z9")
        assert r.status_code in (400, 422) and "Z9" in r.json()["detail"]
        r = advise(client, game, "resign")
        assert r.status_code in (400, 422)
        r = advise(client, game, "B2", token="x" * 32)
        assert r.status_code == 403
        r = advise(client, game, "D4" * 10)
        assert r.status_code == 422
        assert advise(client, game, "B2").json()["advice"] == "B2"
        assert advise(client, game, "").json()["advice"] is None  # taken back
        # The game is as it was: the person still moves, the agent still answers.
        r = move(client, game, "D4")
        assert r.status_code == 200, r.text
        state = wait_for_person(client, r.json())
        assert state["status"] == "your_move" and len(state["moves"]) == 4


@pytest.mark.browser
def test_the_suggestion_box_in_chromium(server: tuple[str, RunDir]) -> None:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (see install.sh)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, _ = server
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(url)
            page.wait_for_selector("#size option", state="attached")
            page.fill("#nickname", "ann")
            page.select_option("#size", "5")
            page.select_option("#colour", "black")
            page.click("#start")
            page.wait_for_selector('#status[data-moves="0"][data-status="your_move"]')
            # Unreadable advice is refused with the reason, and the text stays in the box.
            page.fill("#advice-input", "Z9")
            page.click("#advice-send")
            page.wait_for_selector(".message:not(:empty)", timeout=30_000)
            assert "Z9" in (page.text_content("#message") or "")
            assert page.input_value("#advice-input") == "Z9"
            page.fill("#advice-input", "d4")
            page.click("#advice-send")
            page.wait_for_selector("#advice-note:has-text('D4')", timeout=30_000)
            assert page.input_value("#advice-input") == ""
            page.locator('#board [data-gtp="C3"].spot').click()
            page.wait_for_selector(
                '#status[data-moves="2"][data-status="your_move"]', timeout=60_000
            )
            assert "advised D4" in (page.text_content("#move-list") or "")
            assert page.text_content("#advice-note") == ""
        finally:
            browser.close()
    assert problems == []

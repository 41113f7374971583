"""A person's game in a real browser: Debian's headless Chromium driven by Playwright.

Starts the real server (uvicorn on a free loopback port, in a thread) on a 5x5 run with a
tiny net, opens the page, enters a nickname, plays by clicking intersections, passes until
the game ends, reads the result, replays the game from the history list, and checks the
run's store. No browser is downloaded: the test uses /usr/bin/chromium (install.sh) and
is skipped, saying so, only if that binary is absent.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crowdzero.net.model import NetConfig
from crowdzero.search.config import SearchConfig
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import BoardConfig, RunConfig
from crowdzero.train.run_dir import RunDir
from crowdzero.web.app import WebSettings, create_app

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/crowdzero-web.png")
NICK = "<b>eve</b>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, RunDir]]:
    import uvicorn

    config = RunConfig(
        board=BoardConfig(size=5),
        net=NetConfig(blocks=1, channels=8, policy_channels=4, value_channels=4, value_hidden=8),
        search=SearchConfig(simulations=4, gumbel_considered=4),
    )
    run = RunDir.create(tmp_path / "run", config)
    app = create_app(run, WebSettings(seed=0, checkpoint_poll=3600.0))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", run
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_person_plays_a_game_to_the_end_in_chromium(server: tuple[str, RunDir]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (see install.sh)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, run = server
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "console",
                lambda m: (
                    problems.append(m.text) if m.type == "error" and "409" not in m.text else None
                ),
            )
            page.goto(url)
            page.wait_for_selector("#size option", state="attached")
            assert "untrained" in page.text_content("#network-note")
            page.fill("#nickname", NICK)
            page.select_option("#size", "5")
            page.select_option("#colour", "black")
            page.click("#start")
            status = page.locator("#status")

            def wait_for_my_turn(moves: int) -> None:
                page.wait_for_selector(
                    f'#status[data-moves="{moves}"][data-status="your_move"], '
                    '#status[data-status="over"]',
                    timeout=60_000,
                )

            wait_for_my_turn(0)
            # The name is shown as typed: text, not markup.
            assert NICK in page.text_content("#players")
            assert page.locator("#players b").count() == 0

            moves = 0
            for gtp in ("C3", "B4", "D2"):
                spot = page.locator(f'#board [data-gtp="{gtp}"].spot')
                if spot.count() == 0:  # the agent took it
                    continue
                spot.click()
                page.wait_for_selector(
                    f'#status:not([data-moves="{moves}"]), .message:not(:empty)', timeout=60_000
                )
                if page.text_content("#message"):
                    continue  # refused by the rules (shown to the person); try another point
                moves += 2
                wait_for_my_turn(moves)
                assert page.locator(f'#board [data-gtp="{gtp}"][data-stone="B"]').count() == 1

            page.screenshot(path=str(SCREENSHOT.with_name("crowdzero-web-playing.png")))
            # Pass a few times (two passes in a row end the game); an untrained agent may
            # keep filling its own area instead, so resign if it has not ended by then.
            for _ in range(4):
                if status.get_attribute("data-status") == "over":
                    break
                moves = int(status.get_attribute("data-moves") or 0)
                page.click("#pass")
                wait_for_my_turn(moves + 2)
            if status.get_attribute("data-status") != "over":
                page.click("#resign")
                assert page.text_content("#resign") == "Really resign?"
                page.click("#resign")
                page.wait_for_selector('#status[data-status="over"]', timeout=30_000)
            page.wait_for_selector("#saved-text:has-text('Saved as game')", timeout=30_000)
            result = page.text_content("#result-text") or ""
            assert result.startswith("Result: ")

            # Replay the game from the history list, move by move.
            page.locator("#history-list button").first.click()
            page.wait_for_selector("#replay:not([hidden])")
            page.click("#replay-first")
            assert "Start of the game" in (page.text_content("#replay-info") or "")
            page.click("#replay-next")
            assert "Move 1 of" in (page.text_content("#replay-info") or "")
            assert page.locator("#replay-board .stone").count() == 1
            page.click("#replay-last")
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

    assert problems == []
    with GameStore(run.games_path) as store:
        [(_, game)] = list(store.iter_games(source="web"))
    assert game.black == f"human:{NICK}" and game.white == "agent"
    assert result == f"Result: {game.result}. " + (
        "You win!"
        if game.winner == 1
        else "The agent wins."
        if game.winner == -1
        else "A draw (jigo)."
    )
    assert any(m.policy is not None for m in game.moves)

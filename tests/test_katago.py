"""KataGo, installed by scripts/install_katago.sh, sits in the crowd behind an engine pool.

The spec and board-size checks need no engine (a stand-in install folder is enough); the
rest talk to the real KataGo and are skipped only where it is not installed. Deadlines in
the real-engine tests are sized for a loaded 2-core machine: they check what happens,
not how fast. On an idle machine a KataGo process starts in about 6 s and answers a
1-visit move in about 0.2 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from crowdzero.analysis.arena import play_match
from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.gtp_client import GtpClient
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest, PlayerError
from crowdzero.players.engine_pool import PooledEnginePlayer, gnugo_player, katago_player
from crowdzero.players.engines import (
    KATAGO_STARTUP_TIMEOUT,
    EngineUnavailable,
    engine_available,
    find_katago,
    gnugo_config,
    katago_config,
)
from crowdzero.players.gtp_engine import gtp_main
from crowdzero.players.gtp_player import SyncedEngine
from crowdzero.players.registry import PlayerSpecError, check_player_spec, make_player

RULES = Rules(size=9, komi=7.5)
REPO = Path(__file__).resolve().parent.parent
PATIENT = 600.0  # seconds a move may take in these tests

needs_katago = pytest.mark.skipif(
    not engine_available("katago"),
    reason="KataGo is not installed here; run scripts/install_katago.sh",
)


@pytest.fixture
def stand_in_katago(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An install folder with the installed config's board-size keys and stand-ins for the
    binary and network: enough to build a katago player, never to start one."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "AppRun").write_text("#!/bin/sh\nexit 1\n")
    (app / "AppRun").chmod(0o755)
    (tmp_path / "network.bin.gz").write_bytes(b"")
    (tmp_path / "gtp.cfg").write_text(
        "maxBoardXSizeForNNBuffer = 9\nmaxBoardYSizeForNNBuffer = 9\n"
        "requireMaxBoardSize = true  # one size only\n"
    )
    monkeypatch.setenv("CROWDZERO_KATAGO_DIR", str(tmp_path))
    return tmp_path


def refusal_line(spec: str, capsys: pytest.CaptureFixture[str], size: int | None = None) -> str:
    """What `crowdzero gtp --player SPEC` says when it refuses to start: one line."""
    assert gtp_main(spec, size=size) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("katago:0", ["visits", "1..10000", "not 0"]),
        ("katago:-5", ["visits", "1..10000"]),
        ("katago:10001", ["visits", "1..10000", "10001"]),
        ("katago:many", ["visits", "'many'", "not an integer"]),
        ("katago:1.5", ["visits", "not an integer"]),
        ("katago:1:2", ["visits", "'1:2'", "not an integer"]),
    ],
)
def test_katago_specs_with_bad_arguments_are_refused_in_one_line(
    spec: str, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for refuse in (make_player, check_player_spec):
        with pytest.raises(PlayerSpecError) as refused:
            refuse(spec)
        message = str(refused.value)
        assert "\n" not in message
        assert all(word in message for word in words), message
    line = refusal_line(spec, capsys)
    assert all(word in line for word in words), line


def test_a_board_size_katago_is_not_set_up_for_is_refused_before_it_starts(
    stand_in_katago: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_player_spec("katago:1", 9)
    with pytest.raises(PlayerSpecError, match="set up for 9x9 only, not 13x13"):
        check_player_spec("katago:1", 13)
    player = make_player("katago:1")
    try:
        assert isinstance(player, PooledEnginePlayer) and player.blocking
        assert player.name == "katago:1"
        assert player.supports_size(9) and not player.supports_size(13)
        with pytest.raises(PlayerError, match="set up for 9x9 only, not 13x13"):
            player.select_move(MoveRequest("g", Position(Rules(size=13))))
        assert [status.pid for status in player.pool.status()] == [None]  # nothing started
    finally:
        player.close()
    line = refusal_line("katago:1", capsys, size=13)
    assert "9x9" in line and "13x13" in line, line


def test_without_an_install_katago_is_unavailable_and_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDZERO_KATAGO_DIR", str(tmp_path / "nothing-here"))
    assert not engine_available("katago")
    with pytest.raises(EngineUnavailable, match="install_katago"):
        find_katago()
    with pytest.raises(EngineUnavailable):
        make_player("katago:1")
    check_player_spec("katago:1", 13)  # not refused: a crowd disables the member instead


@needs_katago
def test_katago_plays_legal_9x9_moves_behind_a_pool() -> None:
    player = katago_player(1, move_timeout=PATIENT)
    position = Position(RULES)
    try:
        for _ in range(4):
            position.play(player.select_move(MoveRequest("g", position)).point)  # legal
        assert player.pool.replaced == 0
    finally:
        player.close()
    assert len(position.moves) == 4


@needs_katago
def test_the_install_script_leaves_a_finished_install_alone() -> None:
    config = find_katago().config
    before = config.stat().st_mtime_ns
    done = subprocess.run(
        [str(REPO / "scripts" / "install_katago.sh")],
        capture_output=True,
        text=True,
        timeout=PATIENT,
    )
    assert done.returncode == 0, done.stderr
    assert "already installed" in done.stdout
    assert config.stat().st_mtime_ns == before


@needs_katago
@pytest.mark.slow
@pytest.mark.timeout(1800)  # 36 s with the machine's load at 4; much longer niced under more
def test_a_game_against_gnugo_ends_with_both_engines_and_our_rules_agreeing_on_the_score() -> None:
    try:
        gnugo_argv = gnugo_config(0).argv(seed=3)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    gnugo = SyncedEngine(GtpClient(gnugo_argv, timeout=PATIENT))
    katago = SyncedEngine(
        GtpClient(katago_config(1).argv(seed=3), timeout=PATIENT),
        startup_timeout=KATAGO_STARTUP_TIMEOUT,
    )
    engines = {BLACK: gnugo, WHITE: katago}
    position = Position(RULES)
    try:
        while not position.is_over and len(position.moves) < 2 * 81:
            point = engines[position.to_play].genmove("g", position)
            if point == RESIGN:
                position.resign()
            else:
                position.play(point)
        assert position.is_over and not position.resigned
        scores = []
        for engine in engines.values():
            engine.sync("g", position)  # the last passes included
            scores.append(engine.client.send("final_score"))
    finally:
        gnugo.client.close()
        katago.client.close()
    assert scores == [position.result_string()] * 2, (scores, str(position))


def _kill_a_busy_engine(player: PooledEnginePlayer, done: threading.Event) -> dict[str, object]:
    """Kill -9 the pool's engine while it serves a move; what was killed and when.

    The engine is first frozen: if half a second later it still serves the same game,
    its reply was never read, so the kill lands in the middle of a move (a kill between
    moves is a restart the game never notices)."""
    killed: dict[str, object] = {}

    def watch() -> None:
        while not done.is_set() and not killed:
            for slot in player.pool.status():
                if slot.busy and slot.pid is not None:
                    os.kill(slot.pid, signal.SIGSTOP)
                    time.sleep(0.5)
                    again = player.pool.status()[slot.index]
                    if again.busy and (again.serving, again.pid) == (slot.serving, slot.pid):
                        os.kill(slot.pid, signal.SIGKILL)
                        killed.update(pid=slot.pid, game=slot.serving)
                        return
                    os.kill(slot.pid, signal.SIGCONT)
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
    return killed


@needs_katago
@pytest.mark.timeout(1800)  # 16 s with the machine's load at 4; much longer niced under more
def test_a_killed_katago_voids_one_game_and_the_match_goes_on() -> None:
    try:
        gnugo = gnugo_player(0, pool_size=1, move_timeout=PATIENT)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    katago = katago_player(1, move_timeout=PATIENT)
    katago.select_move(MoveRequest("warm-up", Position(RULES)))  # so the kill lands in a move
    done = threading.Event()
    killed = _kill_a_busy_engine(katago, done)
    try:
        result = play_match(katago, gnugo, games=2, rules=RULES, concurrency=1, max_moves=10)
    finally:
        done.set()
        replaced = katago.pool.replaced
        katago.close()
        gnugo.close()
    assert killed, "the engine was never caught in the middle of a move"
    assert result.dropped == 1 and result.played == 1
    assert replaced == 1
    assert [len(game.moves) for game in result.games] == [10]  # played by the new process

"""Pachi, built by scripts/build_pachi.sh, plays legal 9x9 Go through an engine pool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crowdzero.go.coords import RESIGN
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest
from crowdzero.players.engine_pool import EnginePool, PooledEnginePlayer
from crowdzero.players.engines import engine_available, find_pachi, pachi_config
from crowdzero.players.registry import PlayerSpecError, make_player

pytestmark = pytest.mark.skipif(
    not engine_available("pachi"),
    reason="Pachi is not built here; run scripts/build_pachi.sh (needs cc and make)",
)

RULES = Rules(size=9, komi=7.5)
REPO = Path(__file__).resolve().parent.parent


def test_pachi_answers_genmove_on_9x9_with_the_documented_command() -> None:
    gtp = "boardsize 9\nclear_board\nkomi 7.5\ngenmove b\nquit\n"
    done = subprocess.run(
        [find_pachi(), "-d", "0", "-r", "chinese", "-t", "=1000", "threads=1,pondering=0"],
        input=gtp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    replies = [line for line in done.stdout.splitlines() if line.startswith("=")]
    assert done.returncode == 0
    move = replies[3].removeprefix("=").strip().lower()
    assert move == "pass" or (move[0] in "abcdefghj" and 1 <= int(move[1:]) <= 9)


def test_pachi_plays_a_whole_game_against_gnugo_through_pools() -> None:
    pachi = EnginePool(pachi_config(500), size=1)
    try:
        gnugo = make_player("gnugo:0")
    except Exception as exc:  # GnuGo missing: the pachi half still runs alone below
        pytest.skip(f"gnugo unavailable: {exc}")
    position = Position(RULES)
    try:
        while not position.is_over and len(position.moves) < 200:
            if position.to_play == 1:
                point = pachi.genmove("g", position)
            else:
                point = gnugo.select_move(MoveRequest("g", position)).point
            if point == RESIGN:
                position.resign()
            else:
                position.play(point)
    finally:
        pachi.close()
        gnugo.close()
    assert position.is_over


def test_pachi_spec_builds_a_blocking_pooled_player() -> None:
    player = make_player("pachi:500")
    try:
        assert isinstance(player, PooledEnginePlayer)
        assert player.blocking and player.name == "pachi:500"
        position = Position(RULES)
        for _ in range(4):
            position.play(player.select_move(MoveRequest("g", position)).point)
    finally:
        player.close()


def test_too_few_playouts_are_refused_before_pachi_would_abort() -> None:
    with pytest.raises(PlayerSpecError, match="500"):
        make_player("pachi:100")


def test_build_script_skips_an_existing_build() -> None:
    done = subprocess.run(
        [str(REPO / "scripts" / "build_pachi.sh")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "already built" in done.stdout

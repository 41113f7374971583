"""GtpPlayer/GnuGoPlayer: a real engine kept in step with our games, failures as
PlayerError, and the player registry."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from crowdzero.go.coords import BLACK, RESIGN, WHITE, gtp_to_point
from crowdzero.go.gtp_client import GtpClient
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest, Player, PlayerError
from crowdzero.players.gtp_player import GnuGoPlayer, GtpPlayer, SyncedEngine
from crowdzero.players.random import RandomNoEyePlayer, RandomPlayer
from crowdzero.players.registry import PlayerSpecError, make_player, register


class RecordingClient(GtpClient):
    """A real client that also remembers every command it sent."""

    def __init__(self, argv: list[str]) -> None:
        self.sent: list[str] = []
        super().__init__(argv)

    def send_many(self, commands: Iterable[str], timeout: float | None = None) -> list[str]:
        commands = list(commands)
        self.sent.extend(commands)
        return super().send_many(commands, timeout)


def gnugo_stones(client: GtpClient, size: int) -> tuple[set[int], set[int]]:
    black = {gtp_to_point(v, size) for v in client.send("list_stones black").split()}
    white = {gtp_to_point(v, size) for v in client.send("list_stones white").split()}
    return black, white


def our_stones(position: Position) -> tuple[set[int], set[int]]:
    return (
        set(np.flatnonzero(position.board == BLACK).tolist()),
        set(np.flatnonzero(position.board == WHITE).tolist()),
    )


def play_game(black: Player, white: Player, rules: Rules, game_id: str) -> Position:
    position = Position(rules)
    players = {BLACK: black, WHITE: white}
    while not position.is_over and len(position.moves) < 200:
        choice = players[position.to_play].select_move(MoveRequest(game_id, position.copy()))
        position.play(choice.point)
    return position


def test_gnugo_plays_a_legal_game_against_random(gnugo_path: str) -> None:
    gnugo = GnuGoPlayer(level=0, seed=1, path=gnugo_path)
    try:
        assert gnugo.name == "gnugo:0" and gnugo.blocking
        position = play_game(gnugo, RandomNoEyePlayer(seed=2), Rules(size=9), "g1")
        assert position.is_over
        assert position.winner() == BLACK  # GnuGo beats a random mover
    finally:
        gnugo.close()


def test_sync_sends_only_new_moves_within_a_game(gnugo_path: str) -> None:
    client = RecordingClient([gnugo_path, "--mode", "gtp", "--level", "0", "--chinese-rules"])
    engine = SyncedEngine(client)
    position = Position(Rules(size=9))
    random = RandomPlayer(seed=3)
    try:
        for _ in range(6):
            position.play(engine.genmove("g", position))
            position.play(random.select_move(MoveRequest("g", position)).point)
        engine.sync("g", position)
        plays = [c for c in client.sent if c.startswith("play")]
        assert client.sent.count("clear_board") == 1
        assert len(plays) == 6  # only the random mover's moves; gnugo's own are known
        assert client.sent.count("genmove b") == 6
        assert gnugo_stones(client, 9) == our_stones(position)
    finally:
        client.close()


def test_interleaved_games_resync_the_engine(gnugo_path: str) -> None:
    client = RecordingClient([gnugo_path, "--mode", "gtp", "--level", "0", "--chinese-rules"])
    engine = SyncedEngine(client)
    random = RandomPlayer(seed=4)
    games = {"a": Position(Rules(size=9)), "b": Position(Rules(size=7, komi=0.5))}
    try:
        for _ in range(4):
            for game_id, position in games.items():
                position.play(random.select_move(MoveRequest(game_id, position)).point)
                position.play(engine.genmove(game_id, position))
                assert gnugo_stones(client, position.size) == our_stones(position)
        assert client.sent.count("clear_board") == 8
        assert "komi 0.5" in client.sent and "boardsize 7" in client.sent
    finally:
        client.close()


def test_a_history_that_does_not_extend_what_was_sent_resyncs(gnugo_path: str) -> None:
    client = RecordingClient([gnugo_path, "--mode", "gtp", "--level", "0", "--chinese-rules"])
    engine = SyncedEngine(client)
    position = Position(Rules(size=9))
    try:
        position.play(40)
        before = position.copy()
        position.play(engine.genmove("g", position))
        engine.sync("g", before)  # the same game, one move taken back
        assert client.sent.count("clear_board") == 2
        assert gnugo_stones(client, 9) == our_stones(before)
    finally:
        client.close()


def test_same_seed_gives_the_same_game(gnugo_path: str) -> None:
    def game() -> list[tuple[int, int]]:
        a = GnuGoPlayer(level=0, seed=7, path=gnugo_path)
        b = GnuGoPlayer(level=0, seed=8, path=gnugo_path)
        try:
            return play_game(a, b, Rules(size=7), "s").moves[:30]
        finally:
            a.close()
            b.close()

    assert game() == game()


def test_a_killed_engine_raises_player_error_then_restarts(gnugo_path: str) -> None:
    gnugo = GnuGoPlayer(level=0, path=gnugo_path)
    position = Position(Rules(size=9))
    try:
        gnugo.select_move(MoveRequest("k", position))
        engine = gnugo._engine
        assert engine is not None and engine.client.pid is not None
        os.kill(engine.client.pid, signal.SIGKILL)
        with pytest.raises(PlayerError, match="gnugo:0"):
            gnugo.select_move(MoveRequest("k", position))
        choice = gnugo.select_move(MoveRequest("k", position))
        assert position.is_legal(choice.point)
    finally:
        gnugo.close()


FAKE_ENGINE = textwrap.dedent(
    """
    import sys
    answer = sys.argv[1]
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cid = words.pop(0) if words[0].isdigit() else ""
        body = answer if words[0] == "genmove" else ""
        sys.stdout.write("=" + cid + " " + body + "\\n\\n")
        sys.stdout.flush()
        if words[0] == "quit":
            break
    """
)


@pytest.fixture(scope="module")
def answering_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engines") / "answers.py"
    path.write_text(FAKE_ENGINE)
    return path


@pytest.mark.parametrize(
    ("answer", "expected"), [("resign", RESIGN), ("PASS", 25), ("c3", 12), ("C3", 12)]
)
def test_engine_answers_map_to_points(answering_engine: Path, answer: str, expected: int) -> None:
    player = GtpPlayer([sys.executable, str(answering_engine), answer], name="fake")
    try:
        choice = player.select_move(MoveRequest("x", Position(Rules(size=5))))
        assert choice.point == expected
    finally:
        player.close()


@pytest.mark.parametrize("answer", ["banana", "Z99", "A1"])
def test_unparseable_or_illegal_answers_raise_player_error(
    answering_engine: Path, answer: str
) -> None:
    player = GtpPlayer([sys.executable, str(answering_engine), answer], name="fake")
    position = Position(Rules(size=5))
    position.play(0)  # A1 is now occupied
    try:
        with pytest.raises(PlayerError):
            player.select_move(MoveRequest("x", position))
    finally:
        player.close()


def test_gnugo_level_is_checked() -> None:
    with pytest.raises(ValueError, match="level"):
        GnuGoPlayer(level=11)


# ------------------------------------------------------------------ registry


def test_registry_builds_the_named_players(gnugo_path: str) -> None:
    assert isinstance(make_player("random"), RandomPlayer)
    assert make_player("random-noeye:3").name == "random-noeye"
    gnugo = make_player("gnugo-single:4")
    assert isinstance(gnugo, GnuGoPlayer) and gnugo.name == "gnugo:4"
    gnugo.close()


def test_registry_rejects_unknown_kinds_and_bad_arguments() -> None:
    with pytest.raises(PlayerSpecError, match=r"known kinds: .*random"):
        make_player("alphago")
    with pytest.raises(PlayerSpecError, match="seed"):
        make_player("random:lots")
    with pytest.raises(PlayerSpecError, match="level"):
        make_player("gnugo-single:99")


def test_registry_accepts_new_kinds() -> None:
    register("test-fixed-seed", lambda argument: RandomPlayer(seed=int(argument or 0)))
    player = make_player("test-fixed-seed:5")
    position = Position(Rules(size=5))
    again = RandomPlayer(seed=5)
    assert player.select_move(MoveRequest("r", position)) == again.select_move(
        MoveRequest("r", position)
    )

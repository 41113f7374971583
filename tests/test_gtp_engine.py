"""The GTP engine: commands in-process, a whole game as a subprocess driven by our own
GtpClient, and junk input that must always get a well-formed reply."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdzero.go.coords import BLACK, RESIGN, WHITE, gtp_to_point, point_to_gtp
from crowdzero.go.gtp_client import GtpClient, GtpError
from crowdzero.go.position import KoRule, Position, Rules
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.play.record import Game, Move
from crowdzero.play.sgf import save_sgf
from crowdzero.players.gtp_engine import MAX_LINE_BYTES, GtpEngine
from crowdzero.players.random import RandomNoEyePlayer, RandomPlayer

ENGINE_ARGV = [sys.executable, "-m", "crowdzero.players.gtp_engine", "--player", "random-noeye:7"]
REPLY = re.compile(r"[=?][0-9]* ?[^\n]*(\n[^\n]*\S[^\n]*)*")  # no blank line inside


def make_engine(size: int = 5, player: Player | None = None) -> GtpEngine:
    return GtpEngine(player or RandomPlayer(seed=1), Rules(size=size, komi=0.5))


def ask(engine: GtpEngine, line: str) -> str:
    reply = engine.handle(line)
    assert reply is not None and reply.endswith("\n\n")
    return reply[:-2]


def stones(engine: GtpEngine, colour: str) -> set[str]:
    return set(ask(engine, f"list_stones {colour}")[2:].split())


def split_replies(output: str) -> list[str]:
    assert output.endswith("\n\n") or output == ""
    return output[:-2].split("\n\n") if output else []


# ------------------------------------------------------------------ in-process commands


def test_ids_are_echoed_on_success_and_failure() -> None:
    engine = make_engine()
    assert ask(engine, "12 protocol_version") == "=12 2"
    assert ask(engine, "7 no_such_command") == "?7 unknown command"
    assert ask(engine, "protocol_version") == "= 2"


def test_required_commands_are_listed_and_known() -> None:
    engine = make_engine()
    listed = ask(engine, "list_commands")[2:].split("\n")
    required = [
        "protocol_version",
        "name",
        "version",
        "known_command",
        "list_commands",
        "quit",
        "boardsize",
        "clear_board",
        "komi",
        "play",
        "genmove",
        "undo",
        "showboard",
        "final_score",
        "list_stones",
        "loadsgf",
        "time_settings",
        "time_left",
        "is_legal",
    ]
    assert set(required) <= set(listed)
    assert ask(engine, "known_command genmove") == "= true"
    assert ask(engine, "known_command fly") == "= false"


def test_play_list_stones_and_undo() -> None:
    engine = make_engine()
    ask(engine, "play b c3")
    ask(engine, "play w d3")
    assert stones(engine, "black") == {"C3"} and stones(engine, "white") == {"D3"}
    assert ask(engine, "undo") == "= "
    assert stones(engine, "white") == set()
    assert ask(engine, "undo") == "= "
    assert ask(engine, "undo") == "? cannot undo"


def test_illegal_moves_are_refused_with_the_reason() -> None:
    engine = make_engine()
    ask(engine, "play b c3")
    assert ask(engine, "play w c3") == "? illegal move: C3 is occupied"
    assert ask(engine, "play w z9").startswith("? invalid coordinate")
    assert ask(engine, "play green c4").startswith("? invalid color")
    # a refused move leaves the game as it was
    assert engine.position.moves == [(BLACK, gtp_to_point("c3", 5))]


def test_capture_ko_and_suicide_follow_the_rules() -> None:
    engine = GtpEngine(RandomPlayer(seed=1), Rules(size=5, ko=KoRule.SIMPLE))
    setup = ["b b3", "w c3", "b a2", "w b2", "b b1", "w d2", "b e5", "w c1"]
    for move in setup:
        assert ask(engine, f"play {move}") == "= "
    ask(engine, "play b c2")  # takes the white stone at B2: a ko
    assert "B2" not in stones(engine, "white")
    assert ask(engine, "is_legal w b2") == "= 0"
    assert ask(engine, "play w b2") == "? illegal move: B2 retakes the ko"
    assert ask(engine, "is_legal w a1") == "= 0"  # no liberty, captures nothing
    assert ask(engine, "play w a1") == "? illegal move: A1 is suicide"
    ask(engine, "play w e1")
    ask(engine, "play b e2")
    assert ask(engine, "play w b2") == "= "  # after a move elsewhere the ko may be retaken
    assert "C2" not in stones(engine, "black")


def test_out_of_turn_play_records_a_pass_for_the_other_side() -> None:
    engine = make_engine()
    ask(engine, "play b c3")
    ask(engine, "play b d4")
    assert engine.position.moves[1] == (WHITE, 25)
    assert stones(engine, "black") == {"C3", "D4"}


def test_genmove_plays_a_legal_move_and_records_it() -> None:
    engine = make_engine()
    vertex = ask(engine, "genmove b")[2:]
    point = gtp_to_point(vertex, 5)
    assert engine.position.moves == [(BLACK, point)]
    assert stones(engine, "black") == {vertex.upper()}


def test_boardsize_and_komi() -> None:
    engine = make_engine()
    assert ask(engine, "boardsize 4") == "? unacceptable size"
    assert ask(engine, "boardsize 21") == "? unacceptable size"
    assert ask(engine, "boardsize 9") == "= "
    ask(engine, "play b e5")
    assert ask(engine, "final_score") == "= B+80.5"  # 81 points, komi 0.5
    ask(engine, "komi 6")
    assert ask(engine, "final_score") == "= B+75"
    assert ask(engine, "komi much").startswith("? komi")


def test_final_score_matches_the_position_result_string() -> None:
    engine = make_engine()
    rng = np.random.default_rng(4)
    position = Position(Rules(size=5, komi=0.5))
    while len(position.moves) < 15:
        point = int(rng.choice(np.flatnonzero(position.legal_mask()[:25])))
        ask(engine, f"play {'b' if position.to_play == BLACK else 'w'} {point_to_gtp(point, 5)}")
        position.play(point)
        assert ask(engine, "final_score") == f"= {position.result_string()}"


def test_showboard_is_one_reply_with_the_board() -> None:
    engine = make_engine()
    ask(engine, "play b c3")
    reply = ask(engine, "showboard")
    assert reply.startswith("= \n") and "X" in reply and "\n\n" not in reply


def test_time_commands_are_accepted_and_checked() -> None:
    engine = make_engine()
    assert ask(engine, "time_settings 300 30 5") == "= "
    assert ask(engine, "time_left black 120 0") == "= "
    assert ask(engine, "time_settings 300").startswith("? syntax error")
    assert ask(engine, "time_left purple 1 1").startswith("? invalid color")


def test_loadsgf_sets_rules_and_position(tmp_path) -> None:
    rules = Rules(size=7, komi=3.5)
    position = Position(rules)
    rng = np.random.default_rng(0)
    moves = []
    for _ in range(20):
        point = int(rng.choice(np.flatnonzero(position.legal_mask()[:49])))
        moves.append(Move(position.to_play, point))
        position.play(point)
    moves.append(Move(position.to_play, RESIGN))
    game = Game(rules, "a", "b", tuple(moves), "B+R", BLACK, "2024-01-01")
    path = tmp_path / "g.sgf"
    save_sgf(game, path)
    engine = make_engine()
    assert ask(engine, f"loadsgf {path}") == "= "
    assert engine.rules == rules and engine.position.moves == position.moves
    assert ask(engine, f"loadsgf {path} 5") == "= "
    assert engine.position.moves == position.moves[:4]
    assert ask(engine, f"loadsgf {tmp_path / 'missing.sgf'}").startswith("? cannot load file")


def test_player_factory_is_rebuilt_for_a_new_board_size() -> None:
    built: list[int] = []

    def factory(rules: Rules) -> Player:
        built.append(rules.size)
        return RandomPlayer(seed=0)

    engine = GtpEngine(factory, Rules(size=9))
    ask(engine, "genmove b")
    ask(engine, "komi 5")
    ask(engine, "genmove w")
    ask(engine, "boardsize 7")
    ask(engine, "genmove b")
    assert built == [9, 7]


class _Broken(Player):
    name = "broken"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        raise ZeroDivisionError("a bug")


class _Cheat(Player):
    name = "cheat"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        return MoveChoice(point=0)  # A1, even when occupied


def test_a_failing_player_gets_a_refusal_not_a_crash() -> None:
    log = io.StringIO()
    engine = GtpEngine(_Broken(), Rules(size=5), log=log)
    assert ask(engine, "genmove b") == "? internal error: a bug"
    assert "ZeroDivisionError" in log.getvalue()
    assert engine.position.moves == []
    assert ask(engine, "name") == "= crowdzero"


def test_an_illegal_player_move_is_refused_and_not_recorded() -> None:
    engine = GtpEngine(_Cheat(), Rules(size=5))
    ask(engine, "play b a1")
    assert ask(engine, "genmove w") == "? the player chose an illegal move: A1 is occupied"
    assert engine.position.moves == [(BLACK, 0)]


# ------------------------------------------------------------------ as a subprocess


def test_full_game_as_a_subprocess_driven_by_gtp_client(tmp_path) -> None:
    with GtpClient(ENGINE_ARGV, timeout=60) as engine:
        assert engine.send("protocol_version") == "2"
        engine.send_many(["boardsize 7", "komi 2.5", "clear_board"])
        position = Position(Rules(size=7, komi=2.5))
        while not position.is_over:
            colour = "b" if position.to_play == BLACK else "w"
            vertex = engine.send(f"genmove {colour}")
            position.play(gtp_to_point(vertex, 7))
        assert len(position.moves) > 20
        assert engine.send("final_score") == position.result_string()
        assert_same_stones(engine, position)

        # undo the two final passes and the move before them
        for _ in range(3):
            engine.send("undo")
        earlier = Position(position.rules)
        for _, point in position.moves[:-3]:
            earlier.play(point)
        assert_same_stones(engine, earlier)

        # the game as an SGF written by sgf.py loads back to the same board
        moves = tuple(Move(c, p) for c, p in position.moves)
        game = Game(position.rules, "x", "y", moves, position.result_string(), 0, "2024-01-01")
        path = tmp_path / "game.sgf"
        save_sgf(game, path)
        engine.send(f"loadsgf {path}")
        assert engine.send("final_score") == position.result_string()
        assert_same_stones(engine, position)
        # up to (not including) the first of the two final passes: the game is not over
        engine.send(f"loadsgf {path} {len(moves) - 1}")
        assert_same_stones(engine, position)
        occupied = point_to_gtp(int(np.flatnonzero(position.board)[0]), 7)
        with pytest.raises(GtpError, match=r"illegal move: .* is occupied"):
            engine.send(f"play b {occupied}")


def assert_same_stones(engine: GtpClient, position: Position) -> None:
    for colour, word in ((BLACK, "black"), (WHITE, "white")):
        expected = {
            point_to_gtp(int(p), position.size) for p in np.flatnonzero(position.board == colour)
        }
        assert set(engine.send(f"list_stones {word}").split()) == expected


def test_subprocess_survives_binary_junk_long_lines_and_bad_arguments() -> None:
    junk = b"".join(
        [
            b"\x00\xff\xfe garbage \x1b[31m\n",
            b"1 boardsize\n",
            b"2 boardsize 9 9\n",
            b"3 play b\n",
            b"4 play b d4 extra\n",
            b"5 genmove\n",
            b"6 komi\n",
            b"7 is_legal\n",
            b"8 loadsgf\n",
            b"9 list_stones\n",
            b"x" * (MAX_LINE_BYTES * 3) + b"\n",
            b"10 " + b"play b d4 " * 1000 + b"\n",
            b"11 \xc3\x28 name\n",
            b"   \t  # only a comment\n",
            b"12\n",
            b"13 play\tb\td4 # tabs and a comment\r\n",
            b"14 name\n",
        ]
    )
    done = subprocess.run(ENGINE_ARGV, input=junk, capture_output=True, timeout=60)
    assert done.returncode == 0
    replies = split_replies(done.stdout.decode())
    for reply in replies:
        assert REPLY.fullmatch(reply), reply
    assert replies[-1] == "=14 crowdzero (random-noeye)"
    assert replies[-2] == "=13 "
    # one reply per command line (the comment-only line gets none)
    assert len(replies) == 16


_QUIT = re.compile("quit", re.IGNORECASE)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=12))
def test_any_text_gets_well_formed_replies_and_the_engine_lives(lines: list[str]) -> None:
    text = "\n".join(lines)
    while _QUIT.search(text):
        text = _QUIT.sub("", text)
    engine = make_engine(player=RandomNoEyePlayer(seed=0))
    out = io.BytesIO()
    engine.serve(io.BytesIO((text + "\n999 name\n").encode("utf-8", "surrogatepass")), out)
    replies = split_replies(out.getvalue().decode())
    for reply in replies:
        assert REPLY.fullmatch(reply), reply
    assert replies[-1] == "=999 crowdzero"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "play",
                    "genmove",
                    "undo",
                    "boardsize",
                    "komi",
                    "is_legal",
                    "list_stones",
                    "known_command",
                    "time_left",
                    "time_settings",
                    "final_score",
                    "showboard",
                    "clear_board",
                    "loadsgf",
                ]
            ),
            st.lists(
                st.one_of(
                    st.sampled_from(["b", "w", "black", "pass", "c3", "e5", "a1", "t19", "5"]),
                    st.text(max_size=5),
                ),
                max_size=4,
            ),
        ),
        max_size=25,
    )
)
def test_random_commands_with_wrong_arguments_never_break_the_engine(
    commands: list[tuple[str, list[str]]],
) -> None:
    engine = make_engine(player=RandomNoEyePlayer(seed=0))
    script = "".join(f"{i} {name} {' '.join(args)}\n" for i, (name, args) in enumerate(commands))
    out = io.BytesIO()
    engine.serve(io.BytesIO((script + "999 list_stones black\n").encode("utf-8", "replace")), out)
    replies = split_replies(out.getvalue().decode())
    for reply in replies:
        assert REPLY.fullmatch(reply), reply
    assert replies[-1].startswith("=999")
    # the engine's board is still a legal game
    replay = Position(engine.rules)
    for _, point in engine.position.moves:
        replay.play(point)
    assert np.array_equal(replay.board, engine.position.board)


_COMMAND_BYTES = [
    b"play b c3",
    b"play w pass",
    b"genmove w",
    b"boardsize 5",
    b"boardsize 99999999999999999999",
    b"komi nan",
    b"undo",
    b"loadsgf",
    b"\x00",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\r",
    b"\t",
    b"#",
    b"\n",
    b" 7 ",
    b"-1 ",
]


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300)
    | st.lists(st.sampled_from(_COMMAND_BYTES) | st.binary(max_size=4), max_size=25).map(b"".join)
)
def test_any_bytes_get_well_formed_replies_and_the_engine_lives(data: bytes) -> None:
    """Raw bytes, not just text: invalid UTF-8, NUL and other control characters, CR,
    commands cut in half. No q at all, so no quit can form once control characters are
    dropped (GTP preprocessing removes them)."""
    data = data.replace(b"q", b"x").replace(b"Q", b"X")
    engine = make_engine(player=RandomNoEyePlayer(seed=0))
    out = io.BytesIO()
    engine.serve(io.BytesIO(data + b"\n999 name\n"), out)
    replies = split_replies(out.getvalue().decode())
    for reply in replies:
        assert REPLY.fullmatch(reply), reply
    assert replies[-1] == "=999 crowdzero"
    replay = Position(engine.rules)
    for _, point in engine.position.moves:
        replay.play(point)
    assert np.array_equal(replay.board, engine.position.board)

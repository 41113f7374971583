"""SGF: exact round trips of game records, strict and total reading of foreign files."""

from __future__ import annotations

import contextlib
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sgfmill import sgf as sgfmill_sgf

from crowdzero.go.coords import BLACK, RESIGN, WHITE, gtp_to_point
from crowdzero.go.errors import SgfError
from crowdzero.go.position import KoRule, Position, Rules
from crowdzero.play.record import Game, Move
from crowdzero.play.sgf import game_to_sgf, load_sgf, save_sgf, sgf_to_game


def random_game(seed: int, size: int, ko: KoRule, resign: bool) -> Game:
    """A legal game with passes, an agent seat with search info, maybe a resignation."""
    rng = np.random.default_rng(seed)
    rules = Rules(size=size, komi=float(rng.choice([0.0, 5.5, 7.5, -2.5, 6.25])), ko=ko)
    agent = int(rng.choice([0, BLACK, WHITE]))
    names = {BLACK: "agent" if agent == BLACK else "gnugo:3", WHITE: "random"}
    position = Position(rules)
    moves: list[Move] = []
    length = int(rng.integers(0, 3 * size * size))
    pass_point = size * size
    while len(moves) < length and not position.is_over:
        legal = np.flatnonzero(position.legal_mask()[:pass_point])
        passes = len(legal) == 0 or rng.random() < 0.06
        point = pass_point if passes else int(rng.choice(legal))
        colour = position.to_play
        searched = colour == agent
        moves.append(
            Move(
                colour=colour,
                point=point,
                policy=tuple(rng.dirichlet(np.ones(pass_point + 1)).tolist()) if searched else None,
                root_value=float(rng.uniform(-1, 1)) if searched else None,
                player=names[colour] if rng.random() < 0.9 else None,
            )
        )
        position.play(point)
    if resign and not position.is_over:
        moves.append(Move(colour=position.to_play, point=RESIGN, player=names[position.to_play]))
        position.resign()
    return Game(
        rules=rules,
        black=names[BLACK],
        white=names[WHITE],
        moves=tuple(moves),
        result=position.result_string(),
        winner=position.winner(),
        date=str(rng.choice(["2024-05-01", "2025-01-31T12:30:00+00:00", ""])),
        agent_colour=agent,
        checkpoint=f"runs/x/checkpoints/{seed}.pt" if agent else None,
        metadata={"run": "x", "seed": str(seed)},
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([5, 7, 9, 13, 19]),
    ko=st.sampled_from(list(KoRule)),
    resign=st.booleans(),
)
def test_round_trip_gives_the_same_game(seed: int, size: int, ko: KoRule, resign: bool) -> None:
    game = random_game(seed, size, ko, resign)
    back = sgf_to_game(game_to_sgf(game))
    assert back == game
    assert back.metadata == game.metadata


def test_round_trip_keeps_passes_and_resignation() -> None:
    rules = Rules(size=5, komi=0.5)
    moves = (
        Move(BLACK, 12, player="a"),
        Move(WHITE, 25),
        Move(BLACK, 6),
        Move(WHITE, 0, policy=tuple([1.0] + [0.0] * 25), root_value=-0.75, player="agent"),
        Move(BLACK, RESIGN),
    )
    game = Game(rules, "a", "agent", moves, "W+R", WHITE, "2024-01-02", agent_colour=WHITE)
    assert sgf_to_game(game_to_sgf(game)) == game


def test_written_sgf_uses_standard_properties_other_programs_read() -> None:
    game = random_game(seed=3, size=9, ko=KoRule.POSITIONAL, resign=False)
    data = game_to_sgf(game)
    parsed = sgfmill_sgf.Sgf_game.from_bytes(data)
    root = parsed.get_root()
    assert parsed.get_size() == 9
    assert parsed.get_komi() == game.rules.komi
    assert root.get("PB") == game.black and root.get("PW") == game.white
    assert root.get("RE") == game.result
    assert "Chinese" in root.get("RU") and "positional" in root.get("RU")
    passes = [m for m in game.moves if m.point == 81]
    assert passes, "seed 3 should contain a pass"
    assert data.count(b"B[]") + data.count(b"W[]") == len(passes)
    colours = [node.get_move()[0] for node in parsed.get_main_sequence()[1:]]
    assert colours == ["b" if m.colour == BLACK else "w" for m in game.moves]


def test_save_and_load_round_trip(tmp_path) -> None:
    game = random_game(seed=11, size=7, ko=KoRule.SITUATIONAL, resign=True)
    path = tmp_path / "game.sgf"
    save_sgf(game, path)
    assert load_sgf(path) == game


def test_loading_a_missing_file_is_an_sgf_error(tmp_path) -> None:
    with pytest.raises(SgfError, match="cannot read"):
        load_sgf(tmp_path / "nope.sgf")


def test_reads_a_foreign_game_with_ff3_passes_and_no_private_properties() -> None:
    data = b"(;GM[1]FF[3]SZ[5]KM[0.5]RU[Japanese]PB[x]PW[y]RE[B+R];B[cc];W[tt];B[bb])"
    game = sgf_to_game(data)
    assert game.rules == Rules(size=5, komi=0.5, ko=KoRule.SIMPLE)
    assert [m.point for m in game.moves] == [12, 25, 16]
    assert [m.colour for m in game.moves] == [BLACK, WHITE, BLACK]
    assert game.result == "B+R" and game.winner == BLACK
    assert all(m.policy is None and m.player is None for m in game.moves)


def test_missing_komi_means_zero_as_sgf_says() -> None:
    assert sgf_to_game(b"(;SZ[9])").rules.komi == 0.0


def test_gnugo_loads_our_sgf_to_the_same_board(gnugo_path: str, tmp_path) -> None:
    game = random_game(seed=21, size=9, ko=KoRule.POSITIONAL, resign=False)
    assert len(game.moves) > 40
    path = tmp_path / "ours.sgf"
    save_sgf(game, path)
    script = f"loadsgf {path}\nlist_stones black\nlist_stones white\nquit\n"
    out = subprocess.run(
        [gnugo_path, "--mode", "gtp", "--chinese-rules"],
        input=script.encode(),
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout.decode()
    replies = [block[2:].split() for block in out.strip().split("\n\n")]
    board = game.replay().board
    for reply, colour in ((replies[1], BLACK), (replies[2], WHITE)):
        assert sorted(gtp_to_point(v, 9) for v in reply) == np.flatnonzero(board == colour).tolist()


def test_gnugo_position_dump_with_setup_stones_is_refused_clearly(gnugo_path: str) -> None:
    script = "boardsize 7\nclear_board\nplay b d4\nplay w c3\nprintsgf\nquit\n"
    out = subprocess.run(
        [gnugo_path, "--mode", "gtp"], input=script.encode(), capture_output=True, timeout=30
    ).stdout.decode()
    sgf_text = out[out.index("(;") : out.rindex(")") + 1]
    with pytest.raises(SgfError, match="setup stones"):
        sgf_to_game(sgf_text.encode())


BROKEN = {
    "garbage": b"this is not an sgf file",
    "empty": b"",
    "truncated": b"(;FF[4]SZ[9];B[cc];W[d",
    "unclosed": b"(;FF[4]SZ[9];B[cc]",
    "missing SZ": b"(;FF[4]KM[7.5];B[cc])",
    "size too small": b"(;SZ[4];B[aa])",
    "size too large": b"(;SZ[21];B[aa])",
    "size beyond sgf": b"(;SZ[52])",
    "rectangular": b"(;SZ[9:7])",
    "setup stones at root": b"(;SZ[9]AB[aa][bb]AW[cc])",
    "setup stones later": b"(;SZ[9];B[aa];AW[cc])",
    "occupied point": b"(;SZ[9];B[aa];W[aa])",
    "suicide": b"(;SZ[5];B[ba];W[ee];B[ab];W[aa])",
    "off board": b"(;SZ[9];B[jj])",
    "three letter point": b"(;SZ[9];B[abc])",
    "out of turn": b"(;SZ[9];B[aa];B[bb])",
    "after two passes": b"(;SZ[9];B[];W[];B[aa])",
    "after resignation": b"(;SZ[9];B[aa];CZRS[W];B[bb])",
    "both colours in one node": b"(;SZ[9];B[aa]W[bb])",
    "bad komi": b"(;SZ[9]KM[lots])",
    "infinite komi": b"(;SZ[9]KM[inf])",
    "unknown charset": b"(;CA[no-such-charset]SZ[9];B[aa])",
    "bad policy": b"(;SZ[5];B[aa]CZP[0.5,0.5])",
    "bad value": b"(;SZ[5];B[aa]CZV[high])",
    "bad ko rule": b"(;SZ[5]CZKO[sometimes])",
    "bad resign colour": b"(;SZ[5];CZRS[X])",
    "bad metadata": b"(;SZ[5]CZMD[[1,2]])",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_sgf_raises_sgf_error(name: str) -> None:
    with pytest.raises(SgfError):
        sgf_to_game(BROKEN[name])


def test_illegal_move_error_names_the_move_and_the_rule() -> None:
    with pytest.raises(SgfError, match=r"move 2 is illegal: A9 is occupied"):
        sgf_to_game(BROKEN["occupied point"])


# A 5x5 random game (found by search) whose last move, C1, recreates an earlier board:
# legal under simple ko, illegal under positional superko.
SUPERKO_GAME = [
    "C1",
    "D2",
    "E2",
    "B4",
    "C5",
    "B1",
    "C2",
    "A4",
    "D4",
    "C4",
    "E5",
    "B5",
    "A1",
    "A2",
    "D3",
    "A5",
    "D5",
    "E4",
    "B3",
    "A1",
    "B2",
    "C3",
    "A3",
    "B4",
    "C4",
    "A2",
    "C3",
    "B5",
    "E1",
    "B1",
    "A4",
    "pass",
    "E3",
    "pass",
    "E4",
    "pass",
    "A1",
    "pass",
    "D1",
    "pass",
    "A5",
    "B5",
    "B4",
    "pass",
    "B5",
    "pass",
    "A2",
    "pass",
    "B1",
    "D2",
    "C1",
]


def test_superko_repetition_is_an_sgf_error_only_under_superko() -> None:
    moves = tuple(
        Move(BLACK if i % 2 == 0 else WHITE, gtp_to_point(v, 5)) for i, v in enumerate(SUPERKO_GAME)
    )
    game = Game(Rules(size=5, ko=KoRule.SIMPLE), "a", "b", moves, "", 0, "")
    data = game_to_sgf(game)
    assert sgf_to_game(data) == game
    positional = data.replace(b"CZKO[simple]", b"CZKO[positional]")
    with pytest.raises(SgfError, match=r"move 51 is illegal: C1 repeats an earlier position"):
        sgf_to_game(positional)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_game_or_an_sgf_error(data: bytes) -> None:
    with contextlib.suppress(SgfError):
        sgf_to_game(data)


_VALID = game_to_sgf(
    Game(
        Rules(size=5),
        "a",
        "b",
        (Move(BLACK, 12, policy=tuple([0.0] * 25 + [1.0]), root_value=0.5), Move(WHITE, 25)),
        "B+1.5",
        BLACK,
        "2024-01-01",
    )
)


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(0, len(_VALID)),
    index=st.integers(0, len(_VALID) - 1),
    byte=st.integers(0, 255),
    insert=st.text(alphabet="()[];\\:BWSZAKCMaqtz0159 ", max_size=12),
)
def test_mutated_sgf_gives_a_game_or_an_sgf_error(
    cut: int, index: int, byte: int, insert: str
) -> None:
    mutated = bytearray(_VALID)
    mutated[index] = byte
    mutated[index:index] = insert.encode()
    for data in (bytes(mutated), _VALID[:cut]):
        try:
            game = sgf_to_game(data)
        except SgfError:
            continue
        game.replay()  # whatever was accepted is a legal game


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("()[];\\ BWABAWAESZKMRERUCZPV[]abcdet0123456789.,:")),
        max_size=80,
    )
)
def test_sgf_shaped_noise_gives_a_game_or_an_sgf_error(text: str) -> None:
    for data in (text.encode(), f"(;SZ[5]{text})".encode(), f"(;SZ[5];{text})".encode()):
        with contextlib.suppress(SgfError):
            sgf_to_game(data)

"""The rules engine: captures, suicide, ko and superko, the end of the game, copies.

Random games are checked move by move against `ReferenceGo`, a slow pure-Python
implementation written from the rules text (boards as lists, repetition as a set of
board tuples), so the numba kernels and the Zobrist bookkeeping are tested against
something that shares no code with them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdzero.go.coords import BLACK, EMPTY, RESIGN, WHITE, gtp_to_point, point_to_gtp
from crowdzero.go.errors import IllegalMove
from crowdzero.go.position import KoRule, Position, Rules


def diagram(text: str, to_play: int = BLACK, ko: KoRule = KoRule.POSITIONAL) -> Position:
    """A position from rows drawn top (row N) to bottom: X black, O white, . empty."""
    rows = [line.split() for line in text.strip().splitlines()]
    size = len(rows)
    black, white = [], []
    for i, row in enumerate(rows):
        assert len(row) == size, "diagram must be square"
        for col, cell in enumerate(row):
            point = (size - 1 - i) * size + col
            if cell == "X":
                black.append(point)
            elif cell == "O":
                white.append(point)
    return Position.from_stones(Rules(size=size, ko=ko), black, white, to_play)


def play(position: Position, *moves: str) -> Position:
    for move in moves:
        position.play(gtp_to_point(move, position.size))
    return position


def at(position: Position, name: str) -> int:
    return int(position.board[gtp_to_point(name, position.size)])


# ------------------------------------------------------------------ captures


def test_capture_removes_the_stone_and_counts_it() -> None:
    position = diagram(
        """
        . . . . .
        . . . . .
        . . X . .
        . X O X .
        . . . . .
        """
    )
    play(position, "C1")
    assert at(position, "C2") == EMPTY
    assert position.captures == {BLACK: 1, WHITE: 0}


def test_multi_stone_capture_removes_the_whole_group() -> None:
    position = diagram(
        """
        . . . . .
        . . . . .
        X X X . .
        O O O X .
        X X . . .
        """
    )
    play(position, "C1")
    assert all(at(position, p) == EMPTY for p in ("A2", "B2", "C2"))
    assert position.captures[BLACK] == 3


def test_a_move_without_liberties_is_legal_when_it_captures_two_groups() -> None:
    position = diagram(
        """
        . . . . .
        . . . . .
        X . . . .
        O X . . .
        . O X . .
        """
    )
    assert position.illegal_reason(gtp_to_point("A1", 5)) is None
    play(position, "A1")
    assert at(position, "A2") == EMPTY and at(position, "B1") == EMPTY
    assert position.captures[BLACK] == 2


def test_snapback_recaptures_the_group_that_captured() -> None:
    position = diagram(
        """
        . . . . .
        . . . . .
        . X X X .
        X O O O X
        O O . . X
        """
    )
    play(position, "C1")  # throw-in: one liberty at D1
    play(position, "D1")  # white captures the single stone...
    assert at(position, "C1") == EMPTY
    assert position.captures[WHITE] == 1
    assert position.ko_point == -1  # the capturing stone joined a group: not a ko
    play(position, "C1")  # ...and is left with one liberty: black takes six
    assert position.captures[BLACK] == 6
    assert all(at(position, p) == EMPTY for p in ("A1", "B1", "B2", "C2", "D2", "D1"))


# ------------------------------------------------------------------ suicide, occupied


def test_single_stone_suicide_is_illegal() -> None:
    position = diagram(
        """
        . . . . .
        . . . . .
        . . . . .
        O . . . .
        . O . . .
        """
    )
    with pytest.raises(IllegalMove, match=r"^A1 is suicide$"):
        play(position, "A1")


def test_group_suicide_is_illegal() -> None:
    position = diagram(
        """
        . . . . .
        . . . . .
        . . . . .
        O O . . .
        . X O . .
        """
    )
    assert position.illegal_reason(gtp_to_point("A1", 5)) == "A1 is suicide"
    with pytest.raises(IllegalMove, match=r"^A1 is suicide$"):
        play(position, "A1")


def test_playing_on_a_stone_is_illegal() -> None:
    position = play(Position(), "C3")
    with pytest.raises(IllegalMove, match=r"^C3 is occupied$"):
        play(position, "C3")


def test_an_illegal_move_leaves_the_position_unchanged() -> None:
    position = play(Position(), "C3", "D4")
    before = (position.board.copy(), position.to_play, position.hash, list(position.moves))
    with pytest.raises(IllegalMove):
        play(position, "D4")
    assert np.array_equal(position.board, before[0])
    assert (position.to_play, position.hash, position.moves) == before[1:]


def test_off_board_points_are_illegal_moves() -> None:
    position = Position()
    with pytest.raises(IllegalMove, match="not a point"):
        position.play(82)
    assert position.illegal_reason(-5) is not None


# ------------------------------------------------------------------ ko and superko

KO_SHAPE = """
. . . . .
. . . . .
. X O . .
X O . O .
. X O . .
"""


@pytest.mark.parametrize("rule", list(KoRule))
def test_simple_ko_cannot_be_retaken_at_once(rule: KoRule) -> None:
    position = diagram(KO_SHAPE, ko=rule)
    play(position, "C2")  # captures B2
    assert position.ko_point == gtp_to_point("B2", 5)
    assert position.illegal_reason(gtp_to_point("B2", 5)) == "B2 retakes the ko"
    assert not position.legal_mask()[gtp_to_point("B2", 5)]
    with pytest.raises(IllegalMove, match=r"^B2 retakes the ko$"):
        play(position, "B2")


@pytest.mark.parametrize("rule", list(KoRule))
def test_ko_can_be_retaken_after_a_threat_and_answer(rule: KoRule) -> None:
    position = diagram(KO_SHAPE, ko=rule)
    play(position, "C2", "E5", "E4", "B2")
    assert at(position, "C2") == EMPTY
    assert position.ko_point == gtp_to_point("C2", 5)


# Send two, return one: black's C1 offers two stones, white takes them at A1, black
# takes one back at B1 and the board is what it was, now with WHITE to move.
SEND_TWO_SETUP = ("A2", "B2", "B1", "C2", "pass", "D1")


def test_send_two_return_one_is_legal_under_simple_ko() -> None:
    position = play(Position(Rules(size=5, ko=KoRule.SIMPLE)), *SEND_TWO_SETUP)
    start = position.board.copy()
    play(position, "C1", "A1", "B1")
    assert np.array_equal(position.board, start)
    play(position, "pass", "C1", "A1", "B1")  # the cycle can go on for ever
    assert np.array_equal(position.board, start)


def test_send_two_return_one_is_forbidden_by_positional_superko() -> None:
    position = play(Position(Rules(size=5, ko=KoRule.POSITIONAL)), *SEND_TWO_SETUP)
    play(position, "C1", "A1")
    b1 = gtp_to_point("B1", 5)
    assert position.illegal_reason(b1) == "B1 repeats an earlier position (positional superko)"
    assert not position.legal_mask()[b1]
    with pytest.raises(IllegalMove, match=r"^B1 repeats an earlier position \(positional"):
        position.play(b1)


def test_situational_superko_allows_the_same_board_with_the_other_side_to_move() -> None:
    position = play(Position(Rules(size=5, ko=KoRule.SITUATIONAL)), *SEND_TWO_SETUP)
    play(position, "C1", "A1", "B1")  # board repeats, but now white is to move: legal
    play(position, "pass")  # same board, black to move: a situation seen before
    c1 = gtp_to_point("C1", 5)
    assert position.illegal_reason(c1) == "C1 repeats an earlier position (situational superko)"
    assert not position.legal_mask()[c1]


# ------------------------------------------------------------------ end of game


def test_two_passes_end_the_game() -> None:
    position = play(Position(), "pass")
    assert not position.is_over
    play(position, "pass")
    assert position.is_over
    assert not position.legal_mask().any()
    assert position.illegal_reason(40) == "the game is over"
    with pytest.raises(IllegalMove, match=r"^the game is over$"):
        position.play(40)


def test_a_move_between_passes_resets_the_count() -> None:
    position = play(Position(), "pass", "D4", "pass")
    assert position.consecutive_passes == 1 and not position.is_over


def test_resignation_ends_the_game_and_the_opponent_wins() -> None:
    position = play(Position(), "D4")
    position.resign()  # white resigns
    assert position.is_over and position.resigned == WHITE
    assert position.winner() == BLACK
    assert position.result_string() == "B+R"
    with pytest.raises(IllegalMove, match=r"^the game is over$"):
        position.resign()


def test_playing_resign_point_resigns() -> None:
    position = Position()
    position.play(RESIGN)
    assert position.result_string() == "W+R" and position.winner() == WHITE


# ------------------------------------------------------------------ bookkeeping


def test_moves_record_colours_and_passes() -> None:
    position = play(Position(), "D4", "pass", "E5")
    assert position.moves == [(BLACK, 30), (WHITE, 81), (BLACK, 40)]
    assert position.last_move == 40 and position.to_play == WHITE


def test_copy_is_independent_of_the_original() -> None:
    original = play(Position(), "D4", "E5")
    clone = original.copy()
    play(clone, "C3", "pass")
    play(original, "F6")
    assert at(original, "C3") == EMPTY and at(clone, "F6") == EMPTY
    assert len(original.moves) == 3 and len(clone.moves) == 4
    assert clone.consecutive_passes == 1 and original.consecutive_passes == 0
    assert original.hash != clone.hash


def test_copies_keep_separate_superko_histories() -> None:
    base = play(Position(Rules(size=5)), *SEND_TWO_SETUP[:-1])  # white to move
    clone = base.copy()
    play(clone, "D1", "C1", "A1")  # the clone's history now holds the send-two start
    play(base, "E5", "E4", "E3")  # the base writes its own history after the copy
    reason = clone.illegal_reason(gtp_to_point("B1", 5))
    assert reason == "B1 repeats an earlier position (positional superko)"
    assert base.is_legal(gtp_to_point("D1", 5))


def test_board_is_read_only() -> None:
    position = Position()
    with pytest.raises(ValueError):
        position.board[0] = BLACK


def test_same_stones_reached_in_different_orders_hash_equally() -> None:
    a = play(Position(), "D4", "E5", "C3", "F6")
    b = play(Position(), "C3", "F6", "D4", "E5")
    c = play(Position(), "E5", "C3", "F6", "D4")  # colours swapped
    assert a.hash == b.hash
    assert a.hash != c.hash


@pytest.mark.parametrize("size", [5, 19])
def test_small_and_large_boards_play_captures_at_the_edges(size: int) -> None:
    position = Position(Rules(size=size))
    top = point_to_gtp(size * size - 1, size)  # top-right corner
    left = point_to_gtp(size * size - 2, size)
    below = point_to_gtp(size * (size - 1) - 1, size)
    position.play(gtp_to_point(top, size))  # black in the corner
    position.play(gtp_to_point(left, size))
    position.play(size * size)  # black passes
    position.play(gtp_to_point(below, size))  # white captures the corner stone
    assert position.board[size * size - 1] == EMPTY
    assert position.captures[WHITE] == 1
    assert position.legal_mask().shape == (size * size + 1,)


@pytest.mark.parametrize("size", [4, 20, 0])
def test_rules_reject_unsupported_sizes(size: int) -> None:
    with pytest.raises(ValueError, match="board size"):
        Rules(size=size)


def test_rules_accept_ko_rule_names() -> None:
    assert Rules(ko="situational").ko is KoRule.SITUATIONAL  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ko rule"):
        Rules(ko="japanese")  # type: ignore[arg-type]


def test_ascii_board_has_coordinates_and_stones() -> None:
    text = str(play(Position(), "A1", "J9"))
    lines = text.splitlines()
    assert lines[0].split() == list("ABCDEFGHJ")
    assert lines[1].split() == ["9", ".", ".", ".", ".", ".", ".", ".", ".", "O", "9"]
    assert lines[9].split() == ["1", "X", ".", ".", ".", ".", ".", ".", ".", ".", "1"]
    assert "Black to play" in text


def test_setup_with_a_dead_group_is_rejected() -> None:
    with pytest.raises(ValueError, match="no liberty"):
        Position.from_stones(Rules(size=5), black=[0], white=[1, 5])


# ------------------------------------------------------------------ against a reference


class ReferenceGo:
    """Slow, obvious Go rules: the oracle for the random-game tests."""

    def __init__(self, size: int, ko: KoRule) -> None:
        self.size = size
        self.ko = ko
        self.board = [EMPTY] * (size * size)
        self.to_play = BLACK
        self.before_last: list[int] | None = None  # board before the last (non-pass) move
        self.seen = {self.key(self.board, BLACK)}

    def key(self, board: list[int], to_play: int) -> tuple[object, ...]:
        if self.ko is KoRule.SITUATIONAL:
            return (tuple(board), to_play)
        return (tuple(board),)

    def neighbours(self, p: int) -> list[int]:
        row, col = divmod(p, self.size)
        out = []
        for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
            if 0 <= r < self.size and 0 <= c < self.size:
                out.append(r * self.size + c)
        return out

    def group(self, board: list[int], p: int) -> tuple[set[int], set[int]]:
        stones, libs, todo = {p}, set(), [p]
        while todo:
            q = todo.pop()
            for r in self.neighbours(q):
                if board[r] == EMPTY:
                    libs.add(r)
                elif board[r] == board[p] and r not in stones:
                    stones.add(r)
                    todo.append(r)
        return stones, libs

    def after(self, p: int) -> list[int] | None:
        """The board after the side to move plays ``p``, or None if illegal."""
        if self.board[p] != EMPTY:
            return None
        colour = self.to_play
        board = list(self.board)
        board[p] = colour
        for q in self.neighbours(p):
            if board[q] == -colour:
                stones, libs = self.group(board, q)
                if not libs:
                    for s in stones:
                        board[s] = EMPTY
        if not self.group(board, p)[1]:
            return None
        if self.ko is KoRule.SIMPLE:
            if board == self.before_last:
                return None
        elif self.key(board, -colour) in self.seen:
            return None
        return board

    def play(self, p: int) -> None:
        if p == self.size * self.size:
            self.before_last = None
        else:
            board = self.after(p)
            assert board is not None
            self.before_last = self.board
            self.board = board
        self.to_play = -self.to_play
        self.seen.add(self.key(self.board, self.to_play))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([5, 5, 6, 7]),
    rule=st.sampled_from(list(KoRule)),
)
def test_random_games_follow_the_reference_rules(seed: int, size: int, rule: KoRule) -> None:
    rng = np.random.default_rng(seed)
    position = Position(Rules(size=size, ko=rule))
    reference = ReferenceGo(size, rule)
    n2 = size * size
    for _ in range(6 * n2):
        if position.is_over:
            break
        expected = [reference.after(p) is not None for p in range(n2)] + [True]
        mask = position.legal_mask()
        assert mask.tolist() == expected
        assert [position.is_legal(p) for p in range(n2 + 1)] == expected
        legal = np.flatnonzero(mask[:n2])
        if len(legal) == 0 or rng.random() < 0.03:
            move = n2
        else:
            move = int(legal[rng.integers(len(legal))])
        position.play(move)
        reference.play(move)
        assert position.board.tolist() == reference.board
        black = np.flatnonzero(position.board == BLACK).tolist()
        white = np.flatnonzero(position.board == WHITE).tolist()
        fresh = Position.from_stones(position.rules, black, white, position.to_play)
        assert fresh.hash == position.hash  # incremental Zobrist == from scratch


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rule=st.sampled_from(list(KoRule)))
def test_legal_mask_agrees_with_is_legal_on_random_positions(seed: int, rule: KoRule) -> None:
    rng = np.random.default_rng(seed)
    position = Position(Rules(size=9, ko=rule))
    for _ in range(int(rng.integers(0, 120))):
        point = int(rng.integers(0, 82))
        if position.is_legal(point) and point != 81:
            position.play(point)
    mask = position.legal_mask()
    for point in range(82):
        reason = position.illegal_reason(point)
        assert mask[point] == (reason is None) == position.is_legal(point)

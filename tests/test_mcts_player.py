"""Plain UCT with random play-outs: finds the obvious win, beats random, reports visits."""

from __future__ import annotations

import numpy as np
import pytest

from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest, Player, PlayerError
from crowdzero.players.mcts import MctsPlayer, mcts_from_spec
from crowdzero.players.random import RandomNoEyePlayer
from crowdzero.players.registry import make_player


def p(word: str, size: int = 5) -> int:
    return gtp_to_point(word, size)


def capture_to_win() -> Position:
    """5x5 capturing race, Black to move: White's C2-C4 has one liberty (C1) and so has
    Black's B2-B4 (B1). Capturing at C1 wins; a quiet move lets White capture at B1 and win
    (a 3,000 play-out search rates the position 0.97 after C1, below 0.15 after E3)."""
    return Position.from_stones(
        Rules(size=5, komi=0.5),
        black=[p(w) for w in ("B2", "B3", "B4", "C5", "D2", "D3", "D4")],
        white=[p(w) for w in ("C2", "C3", "C4", "A2", "A3", "A4", "B5")],
        to_play=BLACK,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_finds_the_capture_that_wins(seed: int) -> None:
    position = capture_to_win()
    choice = MctsPlayer(playouts=400, seed=seed).select_move(MoveRequest("g", position))
    assert choice.point == p("C1")
    assert choice.policy is not None and int(np.argmax(choice.policy)) == p("C1")
    assert choice.root_value is not None and choice.root_value > 0.5


def test_passes_to_end_a_won_game() -> None:
    # Black's wall owns the 5x5 board; White has just passed, so passing wins at once.
    position = Position.from_stones(
        Rules(size=5, komi=0.5), black=[p(f"C{r}") for r in range(1, 6)], to_play=WHITE
    )
    position.play(position.pass_point)
    choice = MctsPlayer(playouts=200, seed=0).select_move(MoveRequest("g", position))
    assert choice.point == position.pass_point


def test_does_not_pass_into_a_lost_game() -> None:
    # Black's wall owns the board and Black has passed: White passing back would lose.
    position = Position.from_stones(
        Rules(size=5, komi=0.5), black=[p(f"C{r}") for r in range(1, 6)], to_play=BLACK
    )
    position.play(position.pass_point)  # Black passes; White to move, losing the count
    choice = MctsPlayer(playouts=200, seed=0).select_move(MoveRequest("g", position))
    assert choice.point != position.pass_point


def play_game(black: Player, white: Player, size: int) -> Position:
    position = Position(Rules(size=size, komi=0.5))
    while not position.is_over and len(position.moves) < 3 * size * size:
        player = black if position.to_play == BLACK else white
        position.play(player.select_move(MoveRequest("g", position)).point)
    return position


def test_beats_the_random_mover_on_5x5() -> None:
    wins = 0
    for game in range(4):
        search = MctsPlayer(playouts=400, seed=game)
        mover = RandomNoEyePlayer(seed=50 + game)
        colour = BLACK if game % 2 == 0 else WHITE
        black, white = (search, mover) if colour == BLACK else (mover, search)
        wins += play_game(black, white, 5).winner() == colour
    assert wins >= 3


def test_visit_distribution_is_a_distribution_over_legal_moves() -> None:
    position = Position(Rules(size=7))
    for word in ("D4", "C3", "E5"):
        position.play(gtp_to_point(word, 7))
    distribution = MctsPlayer(playouts=150, seed=3).move_distribution(position)
    assert distribution.shape == (50,)
    assert distribution.sum() == pytest.approx(1.0)
    assert distribution[~position.legal_mask()].sum() == 0.0


def test_same_seed_same_search() -> None:
    position = capture_to_win()
    a = MctsPlayer(playouts=100, seed=9).move_distribution(position)
    b = MctsPlayer(playouts=100, seed=9).move_distribution(position)
    assert np.array_equal(a, b)


def test_search_leaves_the_position_unchanged() -> None:
    position = capture_to_win()
    before = position.board.copy(), len(position.moves)
    MctsPlayer(playouts=50, seed=0).select_move(MoveRequest("g", position))
    assert np.array_equal(position.board, before[0]) and len(position.moves) == before[1]


def test_finished_game_has_no_move() -> None:
    position = Position(Rules(size=5))
    position.play(25)
    position.play(25)
    player = MctsPlayer(playouts=10, seed=0)
    assert not player.move_distribution(position).any()
    with pytest.raises(PlayerError, match="game is over"):
        player.select_move(MoveRequest("g", position))


def test_names_and_specs() -> None:
    assert MctsPlayer(playouts=1600).name == "mcts:1600"
    player = mcts_from_spec("100:4")
    assert player.playouts == 100 and player.name == "mcts:100"
    assert mcts_from_spec(None).playouts == 400
    with pytest.raises(ValueError, match="PLAYOUTS"):
        mcts_from_spec("many")
    with pytest.raises(ValueError, match="at least 1"):
        MctsPlayer(playouts=0)


def test_registry_builds_mcts_players() -> None:
    for budget in (100, 400, 1600):
        assert make_player(f"mcts:{budget}").name == f"mcts:{budget}"

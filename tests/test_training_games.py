"""The agent's training-game scores binned by weights step, read back from a real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crowdzero.analysis.training_games import markdown_table, scores_by_stretch, stretches
from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.position import Position, Rules
from crowdzero.play.record import Game, Move
from crowdzero.store.game_store import GameStore


def played(
    black: str, white: str, loser: int, step: int | None, seed: int, tag: bool = True
) -> Game:
    """A legal 5x5 game of random moves that `loser` resigns; the agent's moves carry the
    weights step, and the pairing's tag too unless `tag` is False."""
    rng = np.random.default_rng(seed)
    position = Position(Rules(size=5, komi=2.5))
    moves: list[Move] = []
    while len(moves) < 12 and not position.is_over:
        colour = position.to_play
        legal = np.flatnonzero(position.legal_mask()[:-1])
        point = int(rng.choice(legal))
        name = black if colour == BLACK else white
        moves.append(
            Move(colour, point, player=name, weights_step=step if name == "agent" else None)
        )
        position.play(point)
    while position.to_play != loser:
        moves.append(Move(position.to_play, 25))
        position.play(25)
    moves.append(Move(loser, RESIGN))
    position.resign()
    agent_colour = BLACK if black == "agent" else WHITE if white == "agent" else 0
    return Game(
        rules=position.rules,
        black=black,
        white=white,
        moves=tuple(moves),
        result=position.result_string(),
        winner=position.winner(),
        date="2026-12-02T12:00:00+00:00",
        agent_colour=agent_colour,
        metadata={"weights_step": str(step)} if tag and step is not None else {},
    )


def test_games_fall_into_the_stretch_of_their_weights_step(tmp_path: Path) -> None:
    games = [
        played("agent", "gnugo:0", WHITE, 0, 1),  # win, stretch 0
        played("gnugo:0", "agent", WHITE, 99, 2),  # loss as White, stretch 0
        played("agent", "gnugo:0", BLACK, 100, 3),  # loss, stretch 1 (edge belongs right)
        played("gnugo:0", "agent", BLACK, 150, 4, tag=False),  # win, step from its moves
        played("agent", "random", WHITE, 400, 5),  # win, open-ended stretch
        played("agent", "agent", WHITE, 50, 6),  # self-play: no opponent, skipped
        played("gnugo:0", "random", WHITE, None, 7),  # no agent, skipped
    ]
    store = GameStore(tmp_path / "games.sqlite")
    store.add_games(games)
    read = [g for _, g in store.iter_games(source="train")]
    store.close()

    cuts = stretches([100, 300], ["to 30 min", "to 60 min"])
    table = scores_by_stretch(read, cuts)

    assert list(table) == ["gnugo:0", "random"]
    first, second, third = table["gnugo:0"]
    assert (first.a_wins, first.b_wins, first.a_black_games) == (1, 1, 1)
    assert (second.a_wins, second.b_wins, second.played) == (1, 1, 2)
    assert third.played == 0
    assert [r.played for r in table["random"]] == [0, 0, 1]
    assert table["random"][2].score == 1.0

    lines = markdown_table(table, cuts)
    assert lines[0] == "| opponent | to 30 min | to 60 min | after |"
    assert lines[2] == "| gnugo:0 | 50% (2) | 50% (2) | - |"


def test_an_empty_stretch_is_left_out_of_the_table() -> None:
    cuts = stretches([100, 300], ["a", "b"])
    table = scores_by_stretch([played("agent", "random", WHITE, 10, 1)], cuts)
    assert markdown_table(table, cuts)[0] == "| opponent | a |"


@pytest.mark.parametrize(
    ("edges", "labels"), [([100, 100], None), ([300, 100], None), ([100], ["a", "b"])]
)
def test_bad_edges_are_refused(edges: list[int], labels: list[str] | None) -> None:
    with pytest.raises(ValueError):
        stretches(edges, labels)

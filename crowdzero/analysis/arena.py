"""A match between two players: N games, colours alternating, scored and optionally stored.

The study and the benchmarks measure strength with it ("checkpoint 2000 against
gnugo:5, 100 games"). It is the match runner with a fixed two-player schedule: game
k has `player_a` as black when k is even and as white when k is odd, so neither side
gets more first moves than the other (with an odd number of games, `player_a` has one
more black game). Games played go into a `GameStore` with ``source="arena"`` when one is
given, which is how they reach the ratings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from crowdzero.analysis.inference import wilson_interval
from crowdzero.go.coords import BLACK
from crowdzero.go.position import Rules
from crowdzero.play.match_runner import MatchRunner, Pairing
from crowdzero.play.player import Player
from crowdzero.play.record import Game
from crowdzero.store.game_store import GameStore

ARENA_SOURCE = "arena"


class ArenaError(ValueError):
    """A match that cannot be played as asked."""


@dataclass(frozen=True)
class MatchResult:
    """The outcome of `play_match`, from `player_a`'s side.

    `games` holds every finished game in the order it ended and `game_ids` their ids in
    the store (empty when no store was given). `dropped` counts games voided because a
    player failed (an engine died, an illegal move); they are not in `games`.
    """

    player_a: str
    player_b: str
    a_wins: int
    b_wins: int
    draws: int
    a_black_games: int
    a_black_wins: int
    dropped: int
    games: tuple[Game, ...]
    game_ids: tuple[int, ...] = ()

    @property
    def played(self) -> int:
        """Decided games (wins, losses and draws)."""
        return self.a_wins + self.b_wins + self.draws

    @property
    def score(self) -> float:
        """`player_a`'s fraction of points (draw = half); 0.5 when nothing was played."""
        if self.played == 0:
            return 0.5
        return (self.a_wins + 0.5 * self.draws) / self.played

    def score_interval(self) -> tuple[float, float]:
        """Wilson 95% interval for `player_a`'s expected score."""
        return wilson_interval(self.a_wins + 0.5 * self.draws, self.played)

    def elo_difference(self) -> float:
        """`player_a`'s rating minus `player_b`'s implied by the score (Elo scale).

        With one virtual draw added (score = (points + 0.5) / (games + 1)), the same weak
        prior as the ratings use, so a clean sweep gives a large but finite number.
        """
        s = (self.a_wins + 0.5 * self.draws + 0.5) / (self.played + 1)
        return _elo(s)

    def elo_interval(self) -> tuple[float, float]:
        """The Wilson score interval mapped to Elo (infinite ends at a score of 0 or 1)."""
        low, high = self.score_interval()
        return _elo(low), _elo(high)

    def summary(self) -> str:
        """One line a person can read: 'gnugo:3 vs random: 18-2-0 (90.0%, +382 Elo)'."""
        return (
            f"{self.player_a} vs {self.player_b}: {self.a_wins}-{self.b_wins}-{self.draws}"
            f" ({100 * self.score:.1f}%, {self.elo_difference():+.0f} Elo)"
            + (f", {self.dropped} dropped" if self.dropped else "")
        )


def _elo(score: float) -> float:
    if score <= 0.0:
        return -math.inf
    if score >= 1.0:
        return math.inf
    return 400.0 * math.log10(score / (1.0 - score))


def play_match(
    player_a: Player,
    player_b: Player,
    games: int,
    rules: Rules | None = None,
    concurrency: int = 8,
    store: GameStore | None = None,
    *,
    max_moves: int | None = None,
    source: str = ARENA_SOURCE,
) -> MatchResult:
    """Play `games` games between two players, alternating colours, through MatchRunner.

    Neither seat is a learner, so no search targets are recorded. The two players must
    have different names, since results are told apart by the names in the records.
    """
    if games < 0:
        raise ArenaError(f"a match needs a non-negative number of games, not {games}")
    if player_a.name == player_b.name:
        raise ArenaError(
            f"both players are called {player_a.name!r}; give them different names "
            "so their games can be told apart"
        )
    started = 0

    def next_pairing() -> Pairing:
        nonlocal started
        k, started = started, started + 1
        if k % 2 == 0:
            return Pairing(player_a, player_b)
        return Pairing(player_b, player_a)

    runner = MatchRunner(
        rules or Rules(),
        next_pairing,
        concurrency=max(1, min(concurrency, games or 1)),
        max_moves=max_moves,
        source=source,
    )
    finished: list[Game] = []
    ids: list[int] = []
    dropped = 0
    try:
        for outcome in runner.play(games):
            if not isinstance(outcome, Game):
                dropped += 1
                continue
            finished.append(outcome)
            if store is not None:
                ids.append(store.add_game(outcome, source=source))
    finally:
        runner.close()

    a_wins = b_wins = draws = a_black = a_black_wins = 0
    for game in finished:
        a_colour = game.colour_of(player_a.name)
        a_black += a_colour == BLACK
        if game.winner == 0:
            draws += 1
        elif game.winner == a_colour:
            a_wins += 1
            a_black_wins += a_colour == BLACK
        else:
            b_wins += 1
    return MatchResult(
        player_a=player_a.name,
        player_b=player_b.name,
        a_wins=a_wins,
        b_wins=b_wins,
        draws=draws,
        a_black_games=a_black,
        a_black_wins=a_black_wins,
        dropped=dropped,
        games=tuple(finished),
        game_ids=tuple(ids),
    )


__all__ = ["ARENA_SOURCE", "ArenaError", "MatchResult", "play_match"]

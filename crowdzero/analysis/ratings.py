"""Elo ratings for everyone who ever played: Bradley-Terry by maximum likelihood.

The model
---------
Player ``i`` has strength ``r_i`` (natural units). Black ``b`` beats white ``w`` with

    P(black wins) = sigmoid(r_b - r_w + h)

where ``h`` is one first-move advantage shared by every game (black moves first, white
has komi; on 9x9 with 7.5 komi it is usually negative). `PairResult` rows keep results by
colour so that ``h`` can be fitted rather than confounded with the ratings.

* **Draws** (jigo, winner 0) count as half a win for each side: a draw contributes
  ``0.5 log p + 0.5 log (1 - p)``. This is not Davidson's model (no draw parameter);
  with a half-point komi draws are rare and the simpler rule is enough.
* **Scale**: ratings are printed on the Elo scale, ``Elo = 1800 + r * 400 / ln 10``.
* **Anchor**: GnuGo level 10 is fixed at 1800, the CGOS convention, so crowdzero's numbers
  can be compared with CGOS's. If ``gnugo:10`` never played (or is not connected to the
  games), the strongest player of the largest connected group is fixed at 1800 instead
  and `RatingTable.note` says so. An explicit ``anchor=`` overrides both.
* **Finite estimates (the prior)**: a player who won (or lost) every game has an
  infinite maximum-likelihood rating. So every pair of players who met gets
  ``prior_draws`` virtual draws (colour-neutral; default 1), the BayesElo idea: it pulls
  a perfect record toward its opponents only as far as one drawn game would, and its
  weight vanishes as real games accumulate. The first-move advantage ``h`` gets a weak
  Gaussian prior (standard deviation `ADVANTAGE_PRIOR_ELO`) so that a table where black
  won every game still has a finite ``h``. Strictly, the estimate is therefore a
  maximum a posteriori estimate under these priors.
* **Disconnected games**: a player with no chain of games to the anchor has no rating on
  the anchor's scale at all (any number would be invented); such players are listed in
  `RatingTable.unrated` with their record and ``rating = None``. The virtual draws never
  connect groups: they are only added between players who really met.
* **95% intervals**: from the observed information (the Hessian of the negative
  log-posterior at the optimum) with the anchor's rating fixed: ``rating +- 1.96 sd``
  where ``sd_i^2`` is the i-th diagonal entry of its inverse. They are intervals for
  each player's rating *relative to the anchor* (the anchor's own interval is zero
  width), and with the prior's small weight they are close to the Wald intervals.
  The synthetic coverage test in tests/test_ratings.py checks they hold about 95%.

The solver is Newton's method on the (concave) log-posterior in numpy with a
backtracking line search; it needs a handful of iterations for hundreds of players.

Stored games are turned into results by `store_results`: the learning agent's seat is
named after its checkpoint label (``Game.checkpoint``, e.g. ``crowd-9x9@250``), because
the agent at step 250 and at step 5000 are different players. `rate_store` combines a
store's games with the crowd's calibration table (`crowdzero.analysis.calibration`), so
a new run is on the anchored scale from its first game.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crowdzero.analysis.inference import Z95
from crowdzero.go.coords import BLACK, WHITE
from crowdzero.play.record import Game
from crowdzero.store.game_store import GameStore, PairResult

#: Elo points per natural unit of strength (a 400 point gap is odds of 10 to 1).
ELO_PER_NAT = 400.0 / math.log(10.0)
DEFAULT_ANCHOR = "gnugo:10"
DEFAULT_ANCHOR_RATING = 1800.0
#: Virtual draws added between every pair of players who met (see the module docstring).
DEFAULT_PRIOR_DRAWS = 1.0
#: Standard deviation of the Gaussian prior on the first-move advantage, in Elo.
ADVANTAGE_PRIOR_ELO = 300.0
#: Strengths beyond this many natural units (about 5,200 Elo) mean the fit ran off to
#: infinity (a perfect record without a prior), not a rating.
_DIVERGED = 30.0


class RatingError(ValueError):
    """The ratings cannot be computed as asked (an anchor that never played, no games...)."""


@dataclass(frozen=True)
class PlayerRating:
    """One player's rating (None when not connected to the anchor) and record."""

    name: str
    rating: float | None
    low: float | None
    high: float | None
    games: int
    wins: int
    losses: int
    draws: int

    @property
    def score(self) -> float:
        """Fraction of points won (a draw is half a point); 0.5 with no games."""
        if self.games == 0:
            return 0.5
        return (self.wins + 0.5 * self.draws) / self.games


@dataclass(frozen=True)
class RatingTable:
    """Ratings of every connected player, strongest first, and who could not be rated."""

    rows: tuple[PlayerRating, ...]
    unrated: tuple[PlayerRating, ...]
    anchor: str
    anchor_rating: float
    #: Elo added to black's side of every game, with its 95% interval.
    first_move_advantage: float
    first_move_low: float
    first_move_high: float
    #: How the anchor was chosen, when it is not the default.
    note: str = ""

    def __getitem__(self, name: str) -> PlayerRating:
        for row in self.rows + self.unrated:
            if row.name == name:
                return row
        raise KeyError(f"{name!r} played no decided game")

    def __contains__(self, name: object) -> bool:
        return any(row.name == name for row in self.rows + self.unrated)

    def rating(self, name: str) -> float | None:
        """`name`'s Elo rating, None when it has no path to the anchor."""
        return self[name].rating

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows + self.unrated)


# -- fitting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Comparisons:
    """Aggregated games as arrays: i (black or a side of a virtual draw) scores w of n."""

    i: np.ndarray  # int [C]
    j: np.ndarray  # int [C]
    colour: np.ndarray  # float [C]: 1 when i was black (h applies), 0 for virtual draws
    score: np.ndarray  # float [C]: points won by i (wins + half the draws)
    n: np.ndarray  # float [C]: games (or virtual games)


@dataclass(frozen=True)
class _Fit:
    strength: np.ndarray  # float [P], natural units, anchor = 0
    sd: np.ndarray  # float [P], anchor = 0
    advantage: float
    advantage_sd: float


def fit_ratings(
    results: Iterable[PairResult],
    *,
    anchor: str | None = None,
    anchor_rating: float = DEFAULT_ANCHOR_RATING,
    prior_draws: float = DEFAULT_PRIOR_DRAWS,
    first_move_advantage: bool = True,
) -> RatingTable:
    """Bradley-Terry ratings with 95% intervals from results by colour (module docstring).

    `anchor` defaults to ``gnugo:10``; an explicit anchor that played no decided game is
    a `RatingError`. `first_move_advantage=False` fixes ``h = 0``.
    """
    if prior_draws < 0:
        raise RatingError(f"prior_draws must be >= 0, not {prior_draws}")
    table = _merge(results)
    if not table:
        raise RatingError("there are no decided games to rate")
    records = _records(table)
    if not records:
        raise RatingError("there are no games between two different players to rate")
    components = _components(table, records)

    note = ""
    if anchor is not None:
        if anchor not in records:
            raise RatingError(f"the anchor {anchor!r} played no decided game")
        chosen = anchor
    elif DEFAULT_ANCHOR in records:
        chosen = DEFAULT_ANCHOR
    else:
        # No GnuGo 10: fix the strongest player of the largest connected group instead.
        group = max(components, key=lambda c: (sum(records[p][0] for p in c), len(c)))
        players = sorted(group)
        fit = _fit(players, players[0], table, prior_draws, first_move_advantage)
        chosen = players[int(np.argmax(fit.strength))]
        note = (
            f"{DEFAULT_ANCHOR} has no games here, so {chosen}, the strongest player "
            f"of the largest connected group, is fixed at {anchor_rating:g} instead"
        )

    group = next(c for c in components if chosen in c)
    players = sorted(group)
    fit = _fit(players, chosen, table, prior_draws, first_move_advantage)

    rated = []
    for k, name in enumerate(players):
        rating = anchor_rating + ELO_PER_NAT * float(fit.strength[k])
        half = Z95 * ELO_PER_NAT * float(fit.sd[k])
        rated.append(_row(name, records[name], rating, rating - half, rating + half))
    rated.sort(key=lambda row: (-(row.rating or 0.0), row.name))
    unrated = sorted(
        (_row(name, records[name], None, None, None) for name in records if name not in group),
        key=lambda row: row.name,
    )
    advantage = ELO_PER_NAT * fit.advantage
    advantage_half = Z95 * ELO_PER_NAT * fit.advantage_sd
    return RatingTable(
        rows=tuple(rated),
        unrated=tuple(unrated),
        anchor=chosen,
        anchor_rating=anchor_rating,
        first_move_advantage=advantage,
        first_move_low=advantage - advantage_half,
        first_move_high=advantage + advantage_half,
        note=note,
    )


def _merge(results: Iterable[PairResult]) -> dict[tuple[str, str], PairResult]:
    """Sum rows with the same (black, white); drop rows without decided games."""
    merged: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in results:
        if min(row.black_wins, row.white_wins, row.draws) < 0:
            raise RatingError(f"negative game counts in {row}")
        if row.games == 0:
            continue
        counts = merged[(row.black, row.white)]
        counts[0] += row.black_wins
        counts[1] += row.white_wins
        counts[2] += row.draws
    return {(b, w): PairResult(b, w, *counts) for (b, w), counts in merged.items()}


def _records(table: dict[tuple[str, str], PairResult]) -> dict[str, tuple[int, int, int, int]]:
    """(games, wins, losses, draws) of every player who met someone else.

    Games against oneself (the agent's self-play under one checkpoint label) are in no
    record: they are neither won nor lost. They still enter the fit, where they only
    inform the first-move advantage.
    """
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (black, white), row in table.items():
        if black == white:
            continue
        for name, wins, losses in (
            (black, row.black_wins, row.white_wins),
            (white, row.white_wins, row.black_wins),
        ):
            counts[name][0] += row.games
            counts[name][1] += wins
            counts[name][2] += losses
            counts[name][3] += row.draws
    return {name: (c[0], c[1], c[2], c[3]) for name, c in counts.items()}


def _components(
    table: dict[tuple[str, str], PairResult], records: dict[str, tuple[int, int, int, int]]
) -> list[set[str]]:
    """Groups of players linked by chains of games (union-find)."""
    parent = {name: name for name in records}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for black, white in table:
        if black in parent and white in parent:
            parent[root(black)] = root(white)
    groups: dict[str, set[str]] = defaultdict(set)
    for name in records:
        groups[root(name)].add(name)
    return list(groups.values())


def _comparisons(
    players: list[str],
    table: dict[tuple[str, str], PairResult],
    prior_draws: float,
) -> _Comparisons:
    index = {name: k for k, name in enumerate(players)}
    i, j, colour, score, n = [], [], [], [], []
    met: set[tuple[int, int]] = set()
    for (black, white), row in table.items():
        if black not in index or white not in index:
            continue
        a, b = index[black], index[white]
        i.append(a)
        j.append(b)
        colour.append(1.0)
        score.append(row.black_wins + 0.5 * row.draws)
        n.append(float(row.games))
        if a != b:
            met.add((min(a, b), max(a, b)))
    if prior_draws > 0:
        for a, b in sorted(met):
            i.append(a)
            j.append(b)
            colour.append(0.0)
            score.append(0.5 * prior_draws)
            n.append(prior_draws)
    return _Comparisons(
        np.asarray(i, dtype=np.int64),
        np.asarray(j, dtype=np.int64),
        np.asarray(colour, dtype=np.float64),
        np.asarray(score, dtype=np.float64),
        np.asarray(n, dtype=np.float64),
    )


def _fit(
    players: list[str],
    anchor: str,
    table: dict[tuple[str, str], PairResult],
    prior_draws: float,
    first_move_advantage: bool,
) -> _Fit:
    """Newton's method on the log-posterior; parameters = non-anchor strengths (+ h)."""
    comps = _comparisons(players, table, prior_draws)
    size = len(players)
    a = players.index(anchor)
    h_prior = (ADVANTAGE_PRIOR_ELO / ELO_PER_NAT) ** -2  # precision of h's prior
    # Full parameter vector: strengths [size] then h; the anchor's entry stays 0 and,
    # without a first-move advantage, so does h.
    free = np.ones(size + 1, dtype=bool)
    free[a] = False
    free[size] = first_move_advantage
    x = np.zeros(size + 1)

    def log_posterior(x: np.ndarray) -> float:
        d = x[comps.i] - x[comps.j] + comps.colour * x[size]
        ll = -comps.score * np.logaddexp(0.0, -d) - (comps.n - comps.score) * np.logaddexp(0.0, d)
        return float(ll.sum() - 0.5 * h_prior * x[size] ** 2)

    def gradient_and_information(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = x[comps.i] - x[comps.j] + comps.colour * x[size]
        p = 1.0 / (1.0 + np.exp(-d))
        g_d = comps.score - comps.n * p  # d log-lik / d d
        v = comps.n * p * (1.0 - p)  # - d^2 log-lik / d d^2
        grad = np.zeros(size + 1)
        np.add.at(grad, comps.i, g_d)
        np.add.at(grad, comps.j, -g_d)
        grad[size] = float(np.dot(comps.colour, g_d)) - h_prior * x[size]
        info = np.zeros((size + 1, size + 1))
        h = np.full_like(comps.i, size)
        cv = comps.colour * v
        for rows, cols, values in (
            (comps.i, comps.i, v),
            (comps.j, comps.j, v),
            (comps.i, comps.j, -v),
            (comps.j, comps.i, -v),
            (comps.i, h, cv),
            (h, comps.i, cv),
            (comps.j, h, -cv),
            (h, comps.j, -cv),
            (h, h, comps.colour * cv),
        ):
            np.add.at(info, (rows, cols), values)
        info[size, size] += h_prior
        return grad[free], info[np.ix_(free, free)]

    current = log_posterior(x)
    for _ in range(200):
        grad, info = gradient_and_information(x)
        step = _solve(info, grad)
        t = 1.0
        while True:
            trial = x.copy()
            trial[free] += t * step
            value = log_posterior(trial)
            if value >= current - 1e-12 or t < 1e-8:
                break
            t *= 0.5
        x, current = trial, value
        if float(np.max(np.abs(t * step), initial=0.0)) < 1e-9:
            break
    else:
        raise RatingError("the rating fit did not converge in 200 Newton steps")
    if float(np.max(np.abs(x), initial=0.0)) > _DIVERGED:
        raise RatingError(
            "a player won or lost every game and there is no prior (prior_draws = 0), "
            "so its maximum-likelihood rating is infinite; use prior_draws > 0"
        )

    _, info = gradient_and_information(x)
    covariance = np.linalg.pinv(info) if info.size else info
    sd_free = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    sd = np.zeros(size + 1)
    sd[free] = sd_free
    return _Fit(
        strength=x[:size].copy(),
        sd=sd[:size],
        advantage=float(x[size]),
        advantage_sd=float(sd[size]),
    )


def _solve(info: np.ndarray, grad: np.ndarray) -> np.ndarray:
    if grad.size == 0:
        return grad
    try:
        return np.linalg.solve(info, grad)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, grad, rcond=None)[0]


def _row(
    name: str,
    record: tuple[int, int, int, int],
    rating: float | None,
    low: float | None,
    high: float | None,
) -> PlayerRating:
    games, wins, losses, draws = record
    return PlayerRating(name, rating, low, high, games, wins, losses, draws)


# -- games from a store ------------------------------------------------------------------


def seat_name(game: Game, colour: int) -> str:
    """Who sat in `colour`'s seat, for rating: the agent is named by its checkpoint.

    The learning agent's seat (``Game.agent_colour``; both seats in self-play) is called
    by the checkpoint label it played with (``crowd-9x9@250``), so each checkpoint is
    rated as its own player; every other seat keeps its player name.
    """
    name = game.player(colour)
    agent = game.agent_colour
    if game.checkpoint and (agent == colour or agent not in (0, BLACK, WHITE)):
        return game.checkpoint
    return name


def is_decided(game: Game) -> bool:
    """A game that counts: finished, not voided."""
    return game.result.strip().upper() != "VOID"


def stored_games(store: GameStore, source: str | None = None) -> Iterator[Game]:
    """Every game of `store`, oldest first, without its moves (they are not needed here).

    Dropping the moves keeps memory flat however long the run: the win rates and ratings
    only look at names, the winner, the agent's seat and the checkpoint.
    """
    for _, game in store.iter_games(source=source):
        yield replace(game, moves=())


def rating_results(games: Iterable[Game], board_size: int | None = None) -> list[PairResult]:
    """Decided games (of one board size if given) by (black, white), agent by checkpoint."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for game in games:
        if not is_decided(game) or (board_size is not None and game.rules.size != board_size):
            continue
        key = (seat_name(game, BLACK), seat_name(game, WHITE))
        counts[key][{BLACK: 0, WHITE: 1}.get(game.winner, 2)] += 1
    return [PairResult(b, w, *c) for (b, w), c in sorted(counts.items())]


def store_results(
    store: GameStore, board_size: int | None = None, source: str | None = None
) -> list[PairResult]:
    """`rating_results` over the games of `store`."""
    return rating_results(stored_games(store, source), board_size)


def main_board_size(games: Iterable[Game]) -> int | None:
    """The board size most of the decided games were played on (None without games)."""
    sizes = Counter(game.rules.size for game in games if is_decided(game))
    return sizes.most_common(1)[0][0] if sizes else None


def rate_games(
    games: Sequence[Game],
    *,
    board_size: int | None = None,
    calibration: bool = True,
    anchor: str | None = None,
    anchor_rating: float = DEFAULT_ANCHOR_RATING,
    prior_draws: float = DEFAULT_PRIOR_DRAWS,
) -> RatingTable:
    """Ratings from `games` (of one board size) plus the crowd's calibration table.

    `board_size` defaults to the size most games were played on: ratings across sizes
    mean nothing. With `calibration`, the packaged match table of the crowd among
    themselves for that size (when one ships) is added, which ties the crowd, and
    through it the agent, to GnuGo 10 from the first game.
    """
    from crowdzero.analysis.calibration import CalibrationMissing, load_calibration

    size = board_size if board_size is not None else main_board_size(games)
    results = rating_results(games, size) if size is not None else []
    if calibration:
        with contextlib.suppress(CalibrationMissing):  # no table for this size: games only
            results += load_calibration(size if size is not None else 9)
    return fit_ratings(results, anchor=anchor, anchor_rating=anchor_rating, prior_draws=prior_draws)


def rate_store(
    store: GameStore,
    *,
    board_size: int | None = None,
    calibration: bool = True,
    anchor: str | None = None,
    anchor_rating: float = DEFAULT_ANCHOR_RATING,
    prior_draws: float = DEFAULT_PRIOR_DRAWS,
) -> RatingTable:
    """`rate_games` over every game in `store`."""
    return rate_games(
        list(stored_games(store)),
        board_size=board_size,
        calibration=calibration,
        anchor=anchor,
        anchor_rating=anchor_rating,
        prior_draws=prior_draws,
    )


# -- showing them ------------------------------------------------------------------------


def render_ratings(table: RatingTable) -> Table:
    """A rich table of the ratings, strongest first, unrated players at the bottom."""
    out = Table(
        title=f"Ratings (Elo; {table.anchor} = {table.anchor_rating:g}; 95% intervals)",
        title_justify="left",
    )
    for column, justify in (
        ("player", "left"),
        ("Elo", "right"),
        ("95% interval", "right"),
        ("games", "right"),
        ("W", "right"),
        ("L", "right"),
        ("D", "right"),
        ("score", "right"),
    ):
        out.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in table.rows:
        interval = (
            "fixed"
            if row.name == table.anchor
            else f"{row.low:.0f} .. {row.high:.0f}"
            if row.low is not None and row.high is not None
            else ""
        )
        out.add_row(
            f"[bold]{row.name}[/]" if row.name == table.anchor else row.name,
            f"{row.rating:.0f}" if row.rating is not None else "",
            interval,
            str(row.games),
            str(row.wins),
            str(row.losses),
            str(row.draws),
            f"{100 * row.score:.0f}%",
        )
    if table.unrated:
        out.add_section()
        for row in table.unrated:
            out.add_row(
                f"[dim]{row.name}[/]",
                "[dim]unrated[/]",
                "[dim]no games linking it to the anchor[/]",
                str(row.games),
                str(row.wins),
                str(row.losses),
                str(row.draws),
                f"{100 * row.score:.0f}%",
            )
    caption = (
        f"black's first-move advantage: {table.first_move_advantage:+.0f} Elo "
        f"({table.first_move_low:+.0f} .. {table.first_move_high:+.0f})"
    )
    out.caption = caption + (f"\n{table.note}" if table.note else "")
    return out


def ratings_main(
    run_dir_path: str | os.PathLike[str],
    console: Console | None = None,
    errors: Console | None = None,
) -> int:
    """`crowdzero ratings runs/NAME`: print the ratings and the win-rate matrix on
    `console` (stdout); exit code.

    Returns 0 on success, 2 when the run cannot be opened or has nothing to rate, having
    said why in one line on `errors` (stderr).
    """
    from crowdzero.analysis.win_rates import render_win_rate_matrix, win_rate_matrix_from_games
    from crowdzero.store.game_store import StoreError
    from crowdzero.train.run_dir import RunDir, RunDirError

    console = console or Console()
    errors = errors or Console(stderr=True)

    def refuse(reason: str) -> int:
        line = " ".join(reason.split())
        errors.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True, highlight=False)
        return 2

    try:
        run = RunDir.open(run_dir_path)
        if not run.games_path.exists():
            return refuse(f"{run.path} has no games yet; nothing to rate")
        with run.open_store() as store:
            games = list(stored_games(store))
    except (RunDirError, StoreError) as exc:
        return refuse(str(exc))
    try:
        table = rate_games(games, board_size=run.config.board.size)
    except RatingError as exc:
        return refuse(str(exc))
    console.print(render_ratings(table))
    matrix = win_rate_matrix_from_games(games, [row.name for row in reversed(table.rows)])
    if matrix.games:
        console.print(render_win_rate_matrix(matrix))
    else:
        console.print("[dim]The agent has not played the crowd yet.[/]")
    return 0


__all__ = [
    "DEFAULT_ANCHOR",
    "DEFAULT_ANCHOR_RATING",
    "ELO_PER_NAT",
    "PlayerRating",
    "RatingError",
    "RatingTable",
    "fit_ratings",
    "is_decided",
    "main_board_size",
    "rate_games",
    "rate_store",
    "rating_results",
    "ratings_main",
    "render_ratings",
    "seat_name",
    "store_results",
    "stored_games",
]

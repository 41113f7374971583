"""How the learning agent fares against each crowd member: a matrix, a series, a plot.

Only games with the agent in exactly one seat count (``Game.agent_colour`` BLACK or
WHITE): self-play has no opponent to score against. Rows are the agent's checkpoint
labels (``Game.checkpoint``, e.g. ``crowd-9x9@250``, ordered by the step after the
``@``), columns the opponents' names, each cell the agent's wins, losses and draws.

`win_rate_over_time` turns the same games into one series per opponent, either one
point per checkpoint (``by="step"``: what each set of weights scored) or one point per
bin of consecutive games against that opponent (``by="games"``: smoother when
checkpoints are frequent and each sees few games of a member). `plot_win_rates` draws
the series with 95% Wilson bands; the crowd run's report shows that PNG.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.table import Table

from crowdzero.analysis.inference import wilson_interval
from crowdzero.go.coords import BLACK, WHITE
from crowdzero.play.record import Game
from crowdzero.store.game_store import GameStore

_STEP = re.compile(r"@(\d+)$")


@dataclass(frozen=True)
class WinRecord:
    """The agent's results in some set of games against one opponent."""

    wins: int = 0
    losses: int = 0
    draws: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.losses + self.draws

    @property
    def score(self) -> float | None:
        """Fraction of points (draw = half), None without games."""
        if self.games == 0:
            return None
        return (self.wins + 0.5 * self.draws) / self.games

    def interval(self) -> tuple[float, float]:
        """Wilson 95% interval for the expected score ((0, 1) without games)."""
        return wilson_interval(self.wins + 0.5 * self.draws, self.games)

    def plus(self, other: WinRecord) -> WinRecord:
        return WinRecord(
            self.wins + other.wins, self.losses + other.losses, self.draws + other.draws
        )


def total(records: Iterable[WinRecord]) -> WinRecord:
    """The records summed."""
    out = WinRecord()
    for record in records:
        out = out.plus(record)
    return out


def checkpoint_step(label: str) -> int | None:
    """The training step in a checkpoint label ("crowd-9x9@250" -> 250), None otherwise."""
    match = _STEP.search(label)
    return int(match.group(1)) if match else None


def _label_key(label: str) -> tuple[int, int, str]:
    step = checkpoint_step(label)
    return (0, step, label) if step is not None else (1, 0, label)


@dataclass(frozen=True)
class WinRateMatrix:
    """The agent's record by checkpoint (rows) and opponent (columns)."""

    checkpoints: tuple[str, ...]
    opponents: tuple[str, ...]
    #: records[r][c]: checkpoint r against opponent c, from the agent's side.
    records: tuple[tuple[WinRecord, ...], ...]

    def cell(self, checkpoint: str, opponent: str) -> WinRecord:
        """The agent at `checkpoint` against `opponent` (an empty record if they never met)."""
        try:
            r = self.checkpoints.index(checkpoint)
            c = self.opponents.index(opponent)
        except ValueError:
            return WinRecord()
        return self.records[r][c]

    def opponent_total(self, opponent: str) -> WinRecord:
        """Every checkpoint's games against `opponent`, summed."""
        if opponent not in self.opponents:
            return WinRecord()
        c = self.opponents.index(opponent)
        return total(row[c] for row in self.records)

    def checkpoint_total(self, checkpoint: str) -> WinRecord:
        """`checkpoint`'s games against everyone, summed."""
        if checkpoint not in self.checkpoints:
            return WinRecord()
        return total(self.records[self.checkpoints.index(checkpoint)])

    @property
    def games(self) -> int:
        return sum(record.games for row in self.records for record in row)


@dataclass(frozen=True)
class AgentGame:
    """One game reduced to what the win rates need: who, with which weights, and how."""

    index: int  # ordinal among the agent's games, from 1
    checkpoint: str
    opponent: str
    score: float  # 1 win, 0.5 draw, 0 loss


def agent_games(games: Iterable[Game]) -> list[AgentGame]:
    """The agent-vs-opponent games among `games`, in order (self-play and void skipped)."""
    out: list[AgentGame] = []
    for game in games:
        if game.agent_colour not in (BLACK, WHITE):
            continue
        if game.result.strip().upper() == "VOID":
            continue
        agent = game.agent_colour
        checkpoint = game.checkpoint or game.player(agent)
        score = game.score_for(agent)
        out.append(AgentGame(len(out) + 1, checkpoint, game.player(-agent), score))
    return out


def _record(score: float) -> WinRecord:
    if score == 1.0:
        return WinRecord(wins=1)
    if score == 0.0:
        return WinRecord(losses=1)
    return WinRecord(draws=1)


def win_rate_matrix_from_games(
    games: Iterable[Game], opponents: Sequence[str] | None = None
) -> WinRateMatrix:
    """The matrix of `games`; columns in `opponents`' order when given (others appended).

    Without an order, columns go from the opponent the agent scores best against to the
    one it scores worst against, roughly weakest to strongest.
    """
    cells: dict[tuple[str, str], WinRecord] = defaultdict(WinRecord)
    for g in agent_games(games):
        cells[(g.checkpoint, g.opponent)] = cells[(g.checkpoint, g.opponent)].plus(_record(g.score))
    rows = sorted({c for c, _ in cells}, key=_label_key)
    met = {o for _, o in cells}
    totals = {o: total(r for (_, oo), r in cells.items() if oo == o) for o in met}
    by_score = sorted(met, key=lambda o: (-(totals[o].score or 0.0), o))
    if opponents is not None:
        cols = [o for o in opponents if o in met] + [o for o in by_score if o not in opponents]
    else:
        cols = by_score
    records = tuple(tuple(cells.get((r, c), WinRecord()) for c in cols) for r in rows)
    return WinRateMatrix(tuple(rows), tuple(cols), records)


def win_rate_matrix(store: GameStore, opponents: Sequence[str] | None = None) -> WinRateMatrix:
    """The agent's record by checkpoint and opponent over every game in `store`."""
    return win_rate_matrix_from_games((game for _, game in store.iter_games()), opponents)


def render_win_rate_matrix(matrix: WinRateMatrix, max_rows: int = 20) -> Table:
    """A rich table: one row per checkpoint (the latest `max_rows`), a total row last.

    Each cell shows the agent's score in percent and its games, coloured from red (the
    agent loses) to green (the agent wins).
    """
    table = Table(title="Agent win rate by checkpoint and opponent", title_justify="left")
    table.add_column("checkpoint", style="bold")
    for opponent in matrix.opponents:
        table.add_column(opponent, justify="right")
    table.add_column("all", justify="right", style="bold")
    rows = list(zip(matrix.checkpoints, matrix.records, strict=True))
    if len(rows) > max_rows:
        table.caption = f"latest {max_rows} of {len(rows)} checkpoints"
        rows = rows[-max_rows:]
    for label, records in rows:
        table.add_row(label, *(_cell(r) for r in records), _cell(matrix.checkpoint_total(label)))
    if matrix.checkpoints:
        everything = total(matrix.opponent_total(o) for o in matrix.opponents)
        table.add_section()
        table.add_row(
            "all", *(_cell(matrix.opponent_total(o)) for o in matrix.opponents), _cell(everything)
        )
    return table


def _cell(record: WinRecord) -> str:
    score = record.score
    if score is None:
        return "[dim]-[/]"
    colour = "red" if score < 0.35 else "yellow" if score < 0.65 else "green"
    return f"[{colour}]{100 * score:.0f}%[/] [dim]{record.games}[/]"


# -- over time ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesPoint:
    """The agent's record against one opponent over one stretch of training.

    `x` is the checkpoint step (``by="step"``) or the index, among all the agent's games,
    of the last game in the bin (``by="games"``).
    """

    x: int
    record: WinRecord

    @property
    def score(self) -> float:
        return self.record.score if self.record.score is not None else 0.5


@dataclass(frozen=True)
class WinRateSeries:
    opponent: str
    points: tuple[SeriesPoint, ...]


def win_rate_over_time_from_games(
    games: Iterable[Game],
    by: Literal["step", "games"] = "games",
    bin_games: int | None = None,
) -> dict[str, WinRateSeries]:
    """One series per opponent (see the module docstring for `by`).

    `bin_games` (``by="games"``) is how many games against an opponent make one point;
    by default about a twentieth of that opponent's games, at least 10.
    """
    if by not in ("step", "games"):
        raise ValueError(f"by must be 'step' or 'games', not {by!r}")
    played = agent_games(games)
    by_opponent: dict[str, list[AgentGame]] = defaultdict(list)
    for g in played:
        by_opponent[g.opponent].append(g)
    series: dict[str, WinRateSeries] = {}
    for opponent in sorted(by_opponent):
        mine = by_opponent[opponent]
        points: list[SeriesPoint] = []
        if by == "step":
            steps: dict[int, WinRecord] = defaultdict(WinRecord)
            for g in mine:
                step = checkpoint_step(g.checkpoint)
                if step is not None:
                    steps[step] = steps[step].plus(_record(g.score))
            points = [SeriesPoint(step, steps[step]) for step in sorted(steps)]
        else:
            size = bin_games if bin_games is not None else max(10, len(mine) // 20)
            if size < 1:
                raise ValueError(f"bin_games must be at least 1, not {size}")
            for start in range(0, len(mine), size):
                chunk = mine[start : start + size]
                record = total(_record(g.score) for g in chunk)
                points.append(SeriesPoint(chunk[-1].index, record))
        series[opponent] = WinRateSeries(opponent, tuple(points))
    return series


def win_rate_over_time(
    store: GameStore, by: Literal["step", "games"] = "games", bin_games: int | None = None
) -> dict[str, WinRateSeries]:
    """`win_rate_over_time_from_games` over every game in `store`."""
    return win_rate_over_time_from_games((g for _, g in store.iter_games()), by, bin_games)


def plot_win_rate_series(
    series: dict[str, WinRateSeries],
    path: str | os.PathLike[str],
    by: Literal["step", "games"] = "games",
    title: str = "Agent win rate against each crowd member",
) -> Path:
    """Draw the series (lines with 95% bands) into a PNG at `path`; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Small multiples, one panel per opponent on shared axes: thirteen overlapping lines
    # with bands are unreadable, while a grid shows each member's curve and its interval.
    # Panels run from the opponent the agent scores best against to the worst (roughly
    # weakest member first, like the matrix's columns).
    ordered = [
        s
        for s in sorted(
            series.values(),
            key=lambda s: (-(total(p.record for p in s.points).score or 0.0), s.opponent),
        )
        if s.points
    ]
    columns = min(4, max(1, len(ordered)))
    rows = max(1, -(-len(ordered) // columns))
    figure = Figure(figsize=(3.2 * columns + 0.6, 2.4 * rows + 0.8), dpi=110)
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for index, axes in enumerate(grid.flat):
        if index >= len(ordered):
            axes.set_visible(False)
            continue
        s = ordered[index]
        xs = [p.x for p in s.points]
        ys = [p.score for p in s.points]
        bands = [p.record.interval() for p in s.points]
        games = sum(p.record.games for p in s.points)
        axes.fill_between(
            xs, [b[0] for b in bands], [b[1] for b in bands], color="tab:blue", alpha=0.18
        )
        axes.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.4, color="tab:blue")
        axes.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
        axes.set_ylim(-0.02, 1.02)
        axes.set_title(f"{s.opponent} ({games} games)", fontsize="small")
        axes.grid(alpha=0.3)
    if not ordered:
        grid[0, 0].set_visible(True)
        grid[0, 0].text(
            0.5, 0.5, "no games against the crowd yet", ha="center", transform=grid[0, 0].transAxes
        )
    for axes in grid[:, 0]:
        axes.set_ylabel("agent's score")
    for axes in grid[-1, :]:
        axes.set_xlabel("training step" if by == "step" else "agent games played")
    figure.suptitle(f"{title} (shaded: 95% interval; dashed: even)")
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, format="png")
    return target


def plot_win_rates(
    store: GameStore,
    path: str | os.PathLike[str],
    by: Literal["step", "games"] = "games",
    bin_games: int | None = None,
) -> Path:
    """PNG of the agent's win rate against each member over time (for the run report)."""
    return plot_win_rate_series(win_rate_over_time(store, by, bin_games), path, by)


__all__ = [
    "AgentGame",
    "SeriesPoint",
    "WinRateMatrix",
    "WinRateSeries",
    "WinRecord",
    "agent_games",
    "checkpoint_step",
    "plot_win_rate_series",
    "plot_win_rates",
    "render_win_rate_matrix",
    "total",
    "win_rate_matrix",
    "win_rate_matrix_from_games",
    "win_rate_over_time",
    "win_rate_over_time_from_games",
]

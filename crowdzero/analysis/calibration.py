"""The crowd's calibration table: games of the crowd members among themselves.

A new run's agent has played only crowd members, and in crowd mode the members never
meet each other, so the run's own games cannot say how strong the members are, and
the agent could not be tied to GnuGo 10's 1800 until it had played GnuGo 10 itself.
The calibration table fixes that once, offline: members play each other and the
results ship with the package (``crowdzero/data/crowd_calibration_9x9.csv``), and
`crowdzero.analysis.ratings.rate_store` adds them to every run's games, so from the
first game every member, and through them the agent, is on the anchored scale.

The CSV has one row per (black, white) pair that played: ``black, white, black_wins,
white_wins, draws`` (colours kept, as the ratings fit a first-move advantage). Names are
the names the players record in games (``Player.name``), the same names training stores.

A full round robin of 13 members is 78 pairs; GnuGo 10 needs about half a second a move,
so pairing it with a random mover (which never passes, so games run to the move cap)
is expensive and tells little. `calibration_pairs` instead pairs each member, listed
weakest first, with its `span` nearest neighbours in that list: the chain still
connects everyone to GnuGo 10, and the neighbours' games are the informative ones.
``scripts/calibrate_crowd.py`` runs it.

What the shipped 9x9 table cannot say: no heuristic player and no plain MCTS player
(even at 1,000 play-outs, in a spot check) took a single game from GnuGo level 0, so
the gap between that tier and the GnuGo tier rests on the ratings' prior (one virtual
draw per pair), about 500 Elo; the true gap is larger. Players within a tier, and the
GnuGo levels and Pachi among themselves, are measured by real games.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from crowdzero.go.coords import BLACK, WHITE
from crowdzero.go.position import Rules
from crowdzero.play.match_runner import DroppedGame, MatchRunner, Pairing
from crowdzero.play.player import Player
from crowdzero.play.record import Game
from crowdzero.store.game_store import GameStore, PairResult

log = logging.getLogger(__name__)

CSV_COLUMNS = ("black", "white", "black_wins", "white_wins", "draws")
#: Games stored by the calibration in a GameStore carry this source.
CALIBRATION_SOURCE = "calibration"


class CalibrationError(ValueError):
    """A calibration table that cannot be read, or a calibration that cannot be run."""


class CalibrationMissing(CalibrationError, FileNotFoundError):
    """No calibration table ships for the asked board size."""


def calibration_file_name(size: int) -> str:
    """The packaged table's file name for `size`: crowd_calibration_9x9.csv."""
    return f"crowd_calibration_{size}x{size}.csv"


def packaged_calibration_path(size: int = 9) -> Path:
    """Where the table for `size` lives inside the installed package (may not exist)."""
    return Path(str(resources.files("crowdzero").joinpath("data", calibration_file_name(size))))


def load_calibration(size: int = 9, path: str | os.PathLike[str] | None = None) -> list[PairResult]:
    """The packaged calibration results for `size` (or the table at `path`).

    Raises CalibrationMissing when no table exists, CalibrationError when it is malformed.
    """
    target = Path(path) if path is not None else packaged_calibration_path(size)
    if not target.is_file():
        raise CalibrationMissing(
            f"no calibration table at {target}; run scripts/calibrate_crowd.py --size {size}"
        )
    return read_results_csv(target)


def read_results_csv(path: str | os.PathLike[str]) -> list[PairResult]:
    """Results rows from a CSV with columns black, white, black_wins, white_wins, draws."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CalibrationError(f"{path} lacks the column(s) {', '.join(missing)}")
        rows = []
        for line, record in enumerate(reader, start=2):
            try:
                counts = [int(record[c]) for c in CSV_COLUMNS[2:]]
            except (TypeError, ValueError):
                raise CalibrationError(f"{path} line {line}: counts must be integers") from None
            if min(counts) < 0 or not record["black"] or not record["white"]:
                raise CalibrationError(f"{path} line {line}: empty name or negative count")
            rows.append(PairResult(record["black"], record["white"], *counts))
    return rows


def write_results_csv(results: Iterable[PairResult], path: str | os.PathLike[str]) -> None:
    """Write results rows (sorted by black, white) atomically: a crash leaves the old file."""
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in sorted(results, key=lambda r: (r.black, r.white)):
        writer.writerow([row.black, row.white, row.black_wins, row.white_wins, row.draws])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def merge_results(*tables: Iterable[PairResult]) -> list[PairResult]:
    """The rows of several tables as one: counts summed per (black, white), sorted. How
    new games join the shipped table (`scripts/calibrate_crowd.py --merge`,
    `benchmarks/katago.py calibrate --merge-into`)."""
    merged: dict[tuple[str, str], list[int]] = {}
    for table in tables:
        for row in table:
            counts = merged.setdefault((row.black, row.white), [0, 0, 0])
            counts[0] += row.black_wins
            counts[1] += row.white_wins
            counts[2] += row.draws
    return [PairResult(b, w, *c) for (b, w), c in sorted(merged.items())]


def results_from_games(games: Iterable[Game]) -> list[PairResult]:
    """Decided games summed by (black, white) name."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for game in games:
        if game.result.strip().upper() == "VOID":
            continue
        counts[(game.black, game.white)][{BLACK: 0, WHITE: 1}.get(game.winner, 2)] += 1
    return [PairResult(b, w, *c) for (b, w), c in sorted(counts.items())]


def calibration_pairs(members: Sequence[str], span: int | None = None) -> list[tuple[str, str]]:
    """Pairs to play: each member with its `span` next members (None: everyone).

    `members` should be listed weakest first, so that neighbours are of similar strength.
    """
    if len(set(members)) != len(members):
        raise CalibrationError("calibration members must be distinct")
    if span is not None and span < 1:
        raise CalibrationError(f"span must be at least 1, not {span}")
    reach = len(members) if span is None else span
    return [
        (members[a], members[b])
        for a in range(len(members))
        for b in range(a + 1, min(len(members), a + 1 + reach))
    ]


@dataclass(frozen=True)
class CalibrationRun:
    """What a calibration produced: results by colour, and how many games were lost."""

    results: tuple[PairResult, ...]
    games: int
    dropped: int
    seconds: float


def play_calibration(
    players: Mapping[str, Player],
    pairs: Sequence[tuple[str, str]],
    games_per_pair: int,
    *,
    rules: Rules | None = None,
    concurrency: int = 4,
    minutes: float | None = None,
    store: GameStore | None = None,
    on_game: Callable[[Game | DroppedGame], None] | None = None,
) -> CalibrationRun:
    """Play `games_per_pair` games for each pair (colours alternating) and count results.

    Games are scheduled round by round (every pair's first game, then every pair's
    second...), so a `minutes` budget that stops the schedule early still leaves every
    pair with about the same number of games. Finished games go into `store` (source
    ``calibration``) when one is given. Games voided by a failing engine are counted in
    `dropped`, not replayed.
    """
    if games_per_pair < 1:
        raise CalibrationError("games_per_pair must be at least 1")
    for name in {name for pair in pairs for name in pair}:
        if name not in players:
            raise CalibrationError(f"no player for calibration member {name!r}")
    schedule = [
        Pairing(players[a], players[b]) if k % 2 == 0 else Pairing(players[b], players[a])
        for k, (a, b) in itertools.product(range(games_per_pair), pairs)
    ]
    queue = iter(schedule)
    runner = MatchRunner(
        rules or Rules(size=9), lambda: next(queue), concurrency=concurrency, source="calibration"
    )
    deadline = None if minutes is None else time.monotonic() + 60.0 * minutes
    finished: list[Game] = []
    dropped = 0
    start = time.monotonic()
    try:
        for outcome in runner.play(len(schedule)):
            if isinstance(outcome, Game):
                finished.append(outcome)
                if store is not None:
                    store.add_game(outcome, source=CALIBRATION_SOURCE)
            else:
                dropped += 1
            if on_game is not None:
                on_game(outcome)
            if deadline is not None and time.monotonic() > deadline:
                runner.stop_accepting()
    finally:
        runner.close()
    return CalibrationRun(
        results=tuple(results_from_games(finished)),
        games=len(finished),
        dropped=dropped,
        seconds=time.monotonic() - start,
    )


__all__ = [
    "CALIBRATION_SOURCE",
    "CSV_COLUMNS",
    "CalibrationError",
    "CalibrationMissing",
    "CalibrationRun",
    "calibration_file_name",
    "calibration_pairs",
    "load_calibration",
    "merge_results",
    "packaged_calibration_path",
    "play_calibration",
    "read_results_csv",
    "results_from_games",
    "write_results_csv",
]

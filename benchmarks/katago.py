"""KataGo as a crowd member: seconds per move by visit count, and calibration games.

    python -m benchmarks.katago speed --visits 1,10,50 --moves 20
    python -m benchmarks.katago calibrate --visits 1 --games 20 --opponents gnugo:10,pachi:1000
    python -m benchmarks.katago calibrate --visits 1 --games 20 --out katago-1.csv

`speed` plays the first `--moves` moves of a 9x9 game with KataGo on both sides, through
the same engine pool the crowd uses (position sync included), after a warm-up move that
takes the start-up; it prints the median, mean and 90th percentile per visit count.
`calibrate` plays a match of `katago:V` against each opponent, colours alternating
(`crowdzero.analysis.arena.play_match`), then rates everyone together with the shipped
calibration table (`crowdzero.analysis.calibration`; GnuGo 10 = 1800, 95% intervals).
`--out` writes the result rows in that table's CSV form, ready to merge into it;
`--store` keeps every game (source ``arena``).

Both print the load average next to their numbers: KataGo's two search threads and its
OpenCL device use both cores, so its speed depends on what else runs. Nothing here is
asserted by the tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console

from crowdzero.analysis.arena import play_match
from crowdzero.analysis.calibration import load_calibration, results_from_games, write_results_csv
from crowdzero.analysis.ratings import fit_ratings, render_ratings
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest
from crowdzero.players.engine_pool import katago_player
from crowdzero.players.registry import make_player
from crowdzero.store.game_store import GameStore, PairResult


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def seconds_per_move(visits: int, moves: int, rules: Rules) -> list[float]:
    """Wall seconds of each of the first `moves` moves of a KataGo-vs-itself game."""
    player = katago_player(visits)
    try:
        player.select_move(MoveRequest("warm-up", Position(rules)))  # start-up, kernels
        position = Position(rules)
        times: list[float] = []
        while len(times) < moves and not position.is_over:
            start = time.perf_counter()
            point = player.select_move(MoveRequest("timed", position)).point
            times.append(time.perf_counter() - start)
            position.play(point)
        return times
    finally:
        player.close()


def speed(args: argparse.Namespace) -> int:
    rules = Rules(size=args.size, komi=args.komi)
    print(f"KataGo seconds per move on {args.size}x{args.size}, first {args.moves} moves")
    for visits in args.visits:
        times = seconds_per_move(visits, args.moves, rules)
        ordered = sorted(times)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        print(
            f"katago:{visits:<6} median {statistics.median(times):6.2f}  "
            f"mean {statistics.fmean(times):6.2f}  p90 {p90:6.2f}  "
            f"({len(times)} moves; {_load()})",
            flush=True,
        )
    return 0


def calibrate(args: argparse.Namespace) -> int:
    rules = Rules(size=args.size, komi=args.komi)
    katago = make_player(f"katago:{args.visits}")
    store = GameStore(args.store) if args.store else None
    results: list[PairResult] = []
    try:
        for spec in args.opponents:
            opponent = make_player(spec)
            print(f"{katago.name} against {opponent.name}: {args.games} games ({_load()})")
            start = time.monotonic()
            try:
                match = play_match(
                    katago, opponent, args.games, rules, concurrency=args.concurrency, store=store
                )
            finally:
                opponent.close()
            results += results_from_games(match.games)
            low, high = match.score_interval()
            print(
                f"{match.summary()}; score interval {100 * low:.0f}-{100 * high:.0f}%, "
                f"{(time.monotonic() - start) / 60:.1f} minutes ({_load()})",
                flush=True,
            )
    finally:
        katago.close()
        if store is not None:
            store.close()
    if args.out is not None:
        write_results_csv(results, args.out)
        print(f"result rows written to {args.out}")
    Console().print(render_ratings(fit_ratings([*load_calibration(args.size), *results])))
    return 0


def _visit_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--visits takes numbers like 1,10,50, not {text!r}"
        ) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=9, help="board size (default 9)")
    parser.add_argument("--komi", type=float, default=7.5, help="komi (default 7.5)")
    commands = parser.add_subparsers(dest="command", required=True)
    timing = commands.add_parser("speed", help="seconds per move by visit count")
    timing.add_argument("--visits", type=_visit_list, default=[1, 10, 50], help="e.g. 1,10,50")
    timing.add_argument("--moves", type=int, default=20, help="moves timed per visit count")
    games = commands.add_parser("calibrate", help="games against GnuGo 10 and Pachi, rated")
    games.add_argument("--visits", type=int, default=1, help="KataGo's visits (default 1)")
    games.add_argument(
        "--opponents",
        type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
        default=["gnugo:10", "pachi:1000"],
        help="comma-separated player specs (default gnugo:10,pachi:1000)",
    )
    games.add_argument("--games", type=int, default=20, help="games per opponent (default 20)")
    games.add_argument("--concurrency", type=int, default=2, help="games at once (default 2)")
    games.add_argument("--out", type=Path, help="write the result rows to this CSV")
    games.add_argument("--store", type=Path, help="also keep every game in this GameStore")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return speed(args) if args.command == "speed" else calibrate(args)


if __name__ == "__main__":
    sys.exit(main())

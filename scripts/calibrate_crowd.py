#!/usr/bin/env python
"""Play the crowd's members against each other and write the calibration table.

The table (one row per black/white pair: black, white, black_wins, white_wins, draws)
ships as ``crowdzero/data/crowd_calibration_<N>x<N>.csv``; the ratings add it to every
run's games so that the crowd, and through it the agent, is anchored to GnuGo 10 = 1800
from the first game (see crowdzero/analysis/calibration.py for why and how).

Examples::

    # the default crowd, members paired with their 3 nearest neighbours, 10 games a pair,
    # at most 15 minutes of wall time, results added to the shipped table
    python scripts/calibrate_crowd.py --games 10 --span 3 --minutes 15 --merge

    # only some members (any player specs, weakest first), a full round robin
    python scripts/calibrate_crowd.py --members random,random-noeye,gnugo:0,gnugo:10

Members are paired with their `--span` nearest neighbours in the order given (weakest
first: the order of the crowd file), plus any `--pair A/B`; games alternate colours and
are scheduled round by round, so stopping at the time budget leaves every pair with
about the same number of games. `--merge` adds the new results to an existing table,
so the script can be rerun to add games or members.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from crowdzero.analysis.calibration import (
    calibration_pairs,
    merge_results,
    packaged_calibration_path,
    play_calibration,
    read_results_csv,
    write_results_csv,
)
from crowdzero.analysis.ratings import fit_ratings, render_ratings
from crowdzero.go.position import Rules
from crowdzero.play.match_runner import DroppedGame
from crowdzero.play.player import Player
from crowdzero.play.record import Game
from crowdzero.players.registry import make_player
from crowdzero.store.game_store import GameStore


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crowd", default="default", help="crowd TOML file (default: built-in)")
    parser.add_argument(
        "--members",
        help="comma-separated player specs, weakest first (instead of the crowd's members)",
    )
    parser.add_argument("--skip", default="", help="comma-separated member names to leave out")
    parser.add_argument("--size", type=int, default=9, help="board size (default 9)")
    parser.add_argument("--komi", type=float, default=7.5, help="komi (default 7.5)")
    parser.add_argument("--games", type=int, default=10, help="games per pair (default 10)")
    parser.add_argument(
        "--span", type=int, default=3, help="pair each member with its N next members (0: all)"
    )
    parser.add_argument(
        "--pair", action="append", default=[], help="an extra pair A/B to play (repeatable)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="games at once (default 4)")
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-time budget")
    parser.add_argument("--out", type=Path, help="CSV to write (default: the packaged table)")
    parser.add_argument("--merge", action="store_true", help="add to the existing table")
    parser.add_argument("--store", type=Path, help="also keep every game in this GameStore")
    return parser.parse_args(argv)


def build_players(
    args: argparse.Namespace,
) -> tuple[list[str], dict[str, Player], list[Callable[[], None]]]:
    """(member names weakest first, players by the name they record, things to close)."""
    skip = {name for name in args.skip.split(",") if name}
    players: dict[str, Player] = {}
    order: list[str] = []
    closers: list[Callable[[], None]] = []
    if args.members:
        for spec in [s.strip() for s in args.members.split(",") if s.strip()]:
            if spec in skip:
                continue
            player = make_player(spec)
            closers.append(player.close)
            players[player.name] = player
            order.append(player.name)
        return order, players, closers
    from crowdzero.players.crowd import Crowd

    crowd = Crowd.load(args.crowd)
    for name, reason in crowd.disabled.items():
        print(f"skipping {name}: {reason}", file=sys.stderr)
    for member in crowd.members:
        if member.name in skip or member.spec in skip:
            continue
        player = crowd.player(member.name)
        # Keyed by the name the player writes into game records (what the ratings see).
        players[player.name] = player
        order.append(player.name)
    closers.append(crowd.close)
    return order, players, closers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    rules = Rules(size=args.size, komi=args.komi)
    out = args.out or packaged_calibration_path(args.size)
    order, players, closers = build_players(args)
    pairs = calibration_pairs(order, None if args.span == 0 else args.span)
    for text in args.pair:
        a, _, b = text.partition("/")
        if a not in players or b not in players:
            print(f"--pair {text}: both sides must be members ({', '.join(order)})")
            return 2
        if (a, b) not in pairs and (b, a) not in pairs:
            pairs.append((a, b))
    print(f"{len(order)} members: {', '.join(order)}")
    print(f"{len(pairs)} pairs x {args.games} games, at most {args.minutes:g} minutes")

    total = len(pairs) * args.games
    done = 0
    start = time.monotonic()

    def progress(outcome: Game | DroppedGame) -> None:
        nonlocal done
        done += 1
        elapsed = time.monotonic() - start
        if isinstance(outcome, Game):
            line = (
                f"{outcome.black} vs {outcome.white}: {outcome.result} ({len(outcome.moves)} moves)"
            )
        else:
            line = f"dropped: {outcome.reason}"
        print(f"[{done}/{total} {elapsed:6.0f}s] {line}", flush=True)

    store = GameStore(args.store) if args.store else None
    try:
        run = play_calibration(
            players,
            pairs,
            args.games,
            rules=rules,
            concurrency=args.concurrency,
            minutes=args.minutes,
            store=store,
            on_game=progress,
        )
    finally:
        for close in closers:
            close()
        if store is not None:
            store.close()

    earlier = read_results_csv(out) if args.merge and out.is_file() else []
    table_rows = merge_results(run.results, earlier)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_results_csv(table_rows, out)
    print(
        f"{run.games} games ({run.dropped} dropped) in {run.seconds / 60:.1f} minutes; "
        f"{len(table_rows)} rows written to {out}"
    )
    from rich.console import Console

    Console().print(render_ratings(fit_ratings(table_rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""KataGo as a crowd member: seconds per move by visit count, calibration games, and the
share of a crowd run's CPU it takes.

    python -m benchmarks.katago speed --visits 1,10,50 --moves 20
    python -m benchmarks.katago calibrate --visits 1 --games 20 --opponents gnugo:10,pachi:1000
    python -m benchmarks.katago calibrate --visits 1 --games 20 --out katago-1.csv
    python -m benchmarks.katago calibrate --visits 1 --games 20 \
        --merge-into crowdzero/data/crowd_calibration_9x9.csv
    python -m benchmarks.katago share --minutes 30 --run runs/katago-share
    python -m benchmarks.katago share --pid PID --minutes 30

`speed` plays the first `--moves` moves of a 9x9 game with KataGo on both sides, through
the same engine pool the crowd uses (position sync included), after a warm-up move that
takes the start-up; it prints the median, mean and 90th percentile per visit count.
`calibrate` plays a match of `katago:V` against each opponent, colours alternating
(`crowdzero.analysis.arena.play_match`), then rates everyone together with the shipped
calibration table (`crowdzero.analysis.calibration`; GnuGo 10 = 1800, 95% intervals).
`--out` writes the result rows in that table's CSV form (``black, white, black_wins,
white_wins, draws``, names as the games record them: ``katago:1``, ``gnugo:10``);
`--merge-into TABLE` adds them to a table of that form (counts summed per pair), so that
with the packaged table (``crowdzero/data/crowd_calibration_9x9.csv``) `crowdzero
ratings` and every run's ratings place KataGo on the GnuGo-10 = 1800 scale; `--store`
keeps every game (source ``arena``). A member that wins every game is rated on the
ratings' prior (one virtual draw per pair) beyond its last opponent: its interval says so.

`share` measures what KataGo costs a crowd run at its default draw weight: it starts
``crowdzero train`` (or watches the process `--pid`) and, every `--interval` seconds,
reads the CPU time (user + system) of every process in the run's tree from /proc, by
kind (KataGo, GnuGo, Pachi, the rest: Python and torch). A process's time is counted up
to its last sample, so a process that lives less than one interval is missed. At the
end it prints each kind's CPU seconds and share of the tree's, and, from the run's
store, the share of games played against KataGo members.

Both print the load average next to their numbers: KataGo's two search threads and its
OpenCL device use both cores, so its speed depends on what else runs. Nothing here is
asserted by the tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console

from crowdzero.analysis.arena import play_match
from crowdzero.analysis.calibration import (
    load_calibration,
    merge_results,
    read_results_csv,
    results_from_games,
    write_results_csv,
)
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
    table = load_calibration(args.size)
    if args.merge_into is not None:
        table = read_results_csv(args.merge_into)
        write_results_csv(merge_results(table, results), args.merge_into)
        print(f"result rows added to {args.merge_into}")
    Console().print(render_ratings(fit_ratings(merge_results(table, results))))
    return 0


# -- CPU share in a crowd run ------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")
KINDS = ("katago", "gnugo", "pachi", "rest")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds: user + system) of a live process; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and ")"
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def process_kind(pid: int) -> str:
    """Which engine a process runs, from the program it started ("rest" for anything
    else). Only the program counts, not its arguments: a run folder named katago-share
    must not make the training process KataGo."""
    try:
        program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].lower()
    except OSError:
        return "rest"
    for kind in KINDS[:-1]:
        if kind.encode() in program:
            return kind
    return "rest"


def tree_cpu(root: int) -> dict[int, tuple[str, float]]:
    """CPU seconds of `root` and every process below it, with each one's kind."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents[int(entry)], seconds[int(entry)] = stat
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return {pid: (process_kind(pid), seconds[pid]) for pid in members if pid in seconds}


def cpu_by_kind(samples: Iterable[dict[int, tuple[str, float]]]) -> dict[str, float]:
    """Each kind's CPU seconds: every process's last sample, summed by kind."""
    last: dict[int, tuple[str, float]] = {}
    for sample in samples:
        last.update(sample)
    totals = dict.fromkeys(KINDS, 0.0)
    for kind, seconds in last.values():
        totals[kind] += seconds
    return totals


def _games_against_katago(run: Path) -> tuple[int, int] | None:
    store_path = run / "games.sqlite"
    if not store_path.is_file():
        return None
    with GameStore(store_path) as store:
        games = list(store.iter_games())
    katago = sum(
        1 for _, g in games if g.black.startswith("katago") or g.white.startswith("katago")
    )
    return katago, len(games)


def share(args: argparse.Namespace) -> int:
    if args.pid is not None:
        root, child = args.pid, None
        print(f"watching process {root} for {args.minutes:g} minutes ({_load()})")
    else:
        command = [
            sys.executable, "-m", "crowdzero.cli", "train", "--run", str(args.run),
            "--minutes", str(args.minutes), "--crowd", args.crowd, "--quiet",
        ]  # fmt: skip
        child = subprocess.Popen(command)
        root = child.pid
        print(f"started {' '.join(command)} (pid {root}; {_load()})", flush=True)
    start = time.monotonic()
    deadline = start + 60.0 * args.minutes + (args.grace if child is not None else 0.0)
    samples: list[dict[int, tuple[str, float]]] = []
    try:
        while time.monotonic() < deadline and (child is None or child.poll() is None):
            sample = tree_cpu(root)
            if not sample:
                break  # the watched process is gone
            samples.append(sample)
            time.sleep(args.interval)
    finally:
        if child is not None and child.poll() is None:
            child.terminate()  # it stops cleanly, writing a checkpoint
            child.wait(timeout=120)
    wall = time.monotonic() - start
    totals = cpu_by_kind(samples)
    total = sum(totals.values())
    print(f"{wall / 60:.1f} minutes, {len(samples)} samples; CPU seconds by kind ({_load()}):")
    for kind in KINDS:
        part = totals[kind] / total if total else 0.0
        print(f"  {kind:<7} {totals[kind]:9.1f} s  {100 * part:5.1f}% of the run's CPU")
    print(f"  total   {total:9.1f} s  ({total / wall:.2f} cores on average)" if wall else "")
    games = _games_against_katago(args.run) if args.run is not None else None
    if games is not None:
        katago, played = games
        print(f"games against KataGo members: {katago} of {played} stored in {args.run}")
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
    games.add_argument(
        "--merge-into",
        type=Path,
        help="add the result rows to this calibration table (e.g. the packaged "
        "crowdzero/data/crowd_calibration_9x9.csv) and rate from it",
    )
    cpu = commands.add_parser("share", help="KataGo's share of a crowd run's CPU time")
    cpu.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    cpu.add_argument(
        "--run",
        type=Path,
        help="run folder to train (new, or one to resume); with --pid, only read for its games",
    )
    cpu.add_argument("--crowd", default="default", help="crowd file (default: the default)")
    cpu.add_argument("--pid", type=int, help="watch this running process instead")
    cpu.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    cpu.add_argument("--grace", type=float, default=300.0, help="seconds the run may take to stop")
    args = parser.parse_args(argv)
    if args.command == "share" and args.pid is None and args.run is None:
        parser.error("share needs --run (a run to train) or --pid (a process to watch)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = {"speed": speed, "calibrate": calibrate, "share": share}[args.command]
    return command(args)


if __name__ == "__main__":
    sys.exit(main())

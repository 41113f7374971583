#!/usr/bin/env python
"""Record the real games that `tests/test_flawed_twins.py` holds the flaw detectors to.

Two sets, written as gzip'd JSON lines (``{"set": ..., "sgf": ...}``) to
``tests/data/twin_games_<N>x<N>.jsonl.gz``:

* ``members``: a round robin of flaw-free players (random movers, heuristics, plain MCTS,
  GnuGo: the twins and the other members), `--games` a pair, colours alternating. Every
  detector of `crowdzero.players.flawed` must stay silent (at most 5% of games) on every
  seat here, and no player may make the pass-back exploit (an early pass).
* ``exploit``: for each flaw, a player that knows it (`ExploitingPlayer` over GnuGo)
  against the flawed member and against its twin, `--exploit-games` each. The flaw must
  decide games (the flawed member scores less than its twin) and the detector must fire
  in most of the games the flawed member loses.

Example (about ten minutes on an idle 2-core machine)::

    python scripts/record_twin_games.py --size 7 --games 8 --exploit-games 20

`--seed` gives every GnuGo seat its own random seed (the pools' default is 0 for all), so
a second recording is a fresh sample, e.g. the held-out games a detector is checked on
after it was designed on the first set; `--flaws` limits the exploit sets.

A recording with GnuGo 6 and 10 among the members takes hours, longer than a working
session, so each match's games are appended to `--out` as soon as the match ends (a gzip
member each) with the match they belong to; run the same command again and it plays only
what is missing (a match cut off in the middle is played again from its start). Files
written before the match key existed are not read this way: move them aside first.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

from crowdzero.analysis.arena import play_match
from crowdzero.go.position import Rules
from crowdzero.play.player import Player
from crowdzero.play.sgf import game_to_sgf
from crowdzero.players.engine_pool import gnugo_player
from crowdzero.players.flawed import FLAWS, ExploitingPlayer, FlawedPlayer, flaw_of, twin_of
from crowdzero.players.registry import make_player

MEMBERS = (
    "random",
    "random-noeye",
    "heuristic:plain",
    "heuristic:greedy",
    "heuristic:early-passer",
    "mcts:100",
    "gnugo:0",
    "gnugo:3",
)
TWIN = "gnugo:0"


def seeded_player(spec: str, seed: int | None) -> Player:
    """`make_player(spec)`, except that GnuGo (bare or inside ``flawed:``) gets `seed`."""
    flaw, inner = flaw_of(spec), twin_of(spec)
    if flaw is not None and inner is not None:
        return FlawedPlayer(flaw, seeded_player(inner, seed))
    kind, _, level = spec.partition(":")
    if seed is not None and kind == "gnugo":
        return gnugo_player(int(level) if level else 10, seed=seed)
    return make_player(spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=7)
    parser.add_argument("--komi", type=float, default=None, help="default: the Rules default")
    parser.add_argument("--games", type=int, default=8, help="games per member pair")
    parser.add_argument("--exploit-games", type=int, default=20)
    parser.add_argument("--members", default=",".join(MEMBERS))
    parser.add_argument("--twin", default=TWIN, help="the player the flaws are planted in")
    parser.add_argument("--flaws", default=",".join(FLAWS), help="exploit sets to record")
    parser.add_argument(
        "--seed", type=int, default=None, help="base GnuGo seed (default: every pool at 0)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rules = Rules(size=args.size) if args.komi is None else Rules(args.size, args.komi)
    out = args.out or Path(f"tests/data/twin_games_{args.size}x{args.size}.jsonl.gz")
    done = recorded_matches(out)
    started = time.monotonic()
    matches = 0

    def record(kind: str, a: str, b: str, games: int, exploit: str | None = None) -> None:
        nonlocal matches
        if games <= 0:
            return
        seed = None if args.seed is None else args.seed + 100 * matches
        matches += 1  # counted even when skipped, so a resumed recording keeps its seeds
        key = match_key(kind, a, b, exploit)
        missing = games - done[key]
        if missing <= 0:
            print(f"{kind:8} {key}: {done[key]} games already in {out}", flush=True)
            return
        player_a = seeded_player(a, seed)
        player_b = seeded_player(b, None if seed is None else seed + 50)
        if exploit is not None:
            player_a = ExploitingPlayer(exploit, player_a)
        # Colours keep alternating over a resumed match: an odd number recorded means
        # player_b takes black first.
        first, second = (player_b, player_a) if done[key] % 2 else (player_a, player_b)
        try:
            result = play_match(first, second, missing, rules, concurrency=2)
        finally:
            player_a.close()
            player_b.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(out, "at") as handle:  # one gzip member a match
            for game in result.games:
                row = {"set": kind, "match": key, "sgf": game_to_sgf(game).decode()}
                handle.write(json.dumps(row) + "\n")
        done[key] += len(result.games)
        print(
            f"{kind:8} {first.name} vs {second.name}: {result.a_wins}-{result.b_wins}"
            f" ({time.monotonic() - started:.0f}s)",
            flush=True,
        )

    for flaw in args.flaws.split(","):
        if flaw not in FLAWS:
            parser.error(f"unknown flaw {flaw!r}; known: {', '.join(FLAWS)}")
        for opponent in (f"flawed:{flaw}:{args.twin}", args.twin):
            record("exploit", args.twin, opponent, args.exploit_games, exploit=flaw)
    for a, b in itertools.combinations(args.members.split(","), 2):
        record("members", a, b, args.games)
    print(f"{sum(done.values())} games in {out}")
    return 0


def match_key(kind: str, a: str, b: str, exploit: str | None = None) -> str:
    """The name a match's rows carry, by which a resumed recording finds them."""
    prefix = f"exploit:{exploit}:" if exploit is not None else ""
    return f"{kind} {prefix}{a} vs {b}"


def recorded_matches(out: Path) -> Counter[str]:
    """Games already recorded in `out` by match; empty when there is no file yet."""
    done: Counter[str] = Counter()
    if not out.exists():
        return done
    try:
        with gzip.open(out, "rt") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SystemExit(
                        f"{out}:{number}: not a JSON line ({exc}); move it aside"
                    ) from None
                if "match" not in row:
                    raise SystemExit(
                        f"{out} was written before recordings could be resumed (its rows "
                        "carry no match); move it aside or pick another --out"
                    )
                done[row["match"]] += 1
    except (EOFError, gzip.BadGzipFile) as exc:
        raise SystemExit(
            f"{out} is cut short or not gzip ({exc}): a recording stopped while writing; "
            "move it aside and record again"
        ) from None
    return done


if __name__ == "__main__":
    sys.exit(main())

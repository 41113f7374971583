"""Does a crowd-trained agent take advice? An advice run against its blank-advice twin (#14).

Two crowd runs, identical but for one switch: `advice` has advice planes
(``net.advice_planes = true``), `blank` has none, so its network never hears the advice
(exactly what an advice net with the planes always blank computes). Both play the default
crowd plus three advisers of known intent (`ADVISERS`: helpful GnuGo 10, the opponent,
random; each speaks on about 15% of the agent's moves), so both runs' games carry the
same kinds of advice. Then `crowdzero study --advice` measures, per source, how often
each agent plays the advised move, how often it plays it with the advice blanked (the
causal effect), raw and with search, over the checkpoints, and the game result when it
follows versus not.

    python -m benchmarks.advice --minutes 240 --size 9          # hours: not for the tests
    python -m benchmarks.advice --minutes 240 --only measure    # measure finished runs
    python -m benchmarks.advice --only redraw --out docs/results/advice-7x7  # from advice.json

Runs live in --out (default runs/advice-9x9/{advice,blank}); a run already trained for the
budget is not trained again (a cut-short one resumes), so the command can be repeated.
The report: --out/study/advice.md and advice.json (see docs/study.md, "Advice").
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path
from typing import Any

from benchmarks.learn import train
from crowdzero.analysis.study.advice import advice_results_from_json, advice_table, study_advice
from crowdzero.analysis.study.report import write_advice
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir

#: Appended to the default crowd: the advisers both runs hear from.
ADVISERS = """
# --- advisers (#14): each takes part in every game and speaks on ~15% of agent moves ---
[[adviser]]
source = "helpful"
spec = "gnugo:10"
games = 1.0
rate = 0.15

[[adviser]]
source = "opponent"
games = 1.0
rate = 0.15

[[adviser]]
source = "random"
games = 1.0
rate = 0.15
"""


def advice_crowd(out: Path) -> Path:
    """The default crowd file with the advisers appended, written into `out`."""
    text = resources.files("crowdzero.players").joinpath("default_crowd.toml").read_text()
    path = out / "advice_crowd.toml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(text + ADVISERS, encoding="utf-8")
    return path


def overrides(args: argparse.Namespace, crowd: Path, planes: bool) -> dict[str, Any]:
    return {
        "train.mode": "crowd",
        "train.crowd": str(crowd.resolve()),
        "board.size": args.size,
        "search.simulations": args.simulations,
        "train.concurrent_games": args.concurrent_games,
        "train.checkpoint_every": 250,
        "net.advice_planes": planes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=240.0, help="training per run")
    parser.add_argument("--size", type=int, default=9)
    # crowd-9x9-v2's recipe (docs/results/crowd-9x9-v2): the one that reached GnuGo level 0.
    parser.add_argument("--simulations", type=int, default=32, help="search in training")
    parser.add_argument("--concurrent-games", type=int, default=64, help="games at once")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", choices=("train", "measure", "redraw"), default=None)
    parser.add_argument("--checkpoints", type=int, default=6, help="measured per run")
    parser.add_argument("--positions", type=int, default=300, help="per source")
    parser.add_argument(
        "--measure-simulations", type=int, default=64, help="search in the measurement"
    )
    args = parser.parse_args(argv)
    out: Path = args.out or Path(f"runs/advice-{args.size}x{args.size}")
    if args.only == "redraw":  # the tables and figure again, from the shipped numbers
        data = json.loads((out / "study" / "advice.json").read_text(encoding="utf-8"))
        text, _ = write_advice(advice_results_from_json(data), out / "study")
        print(f"wrote {text} and {text.with_suffix('.png')}")
        return 0
    crowd = advice_crowd(out)
    runs = {}
    for name, planes in (("advice", True), ("blank", False)):
        path = out / name
        if (path / "config.toml").is_file():
            run_dir = RunDir.open(path)
        else:
            cfg = apply_overrides(RunConfig(), overrides(args, crowd, planes))
            run_dir = RunDir.create(path, cfg)
        runs[name] = run_dir
        if args.only != "measure":
            print(f"{name}: training {args.minutes:g} min in {path}", flush=True)
            train(run_dir, [args.minutes])
    if args.only == "train":
        return 0
    results = study_advice(
        runs["advice"].path,
        twin=runs["blank"].path,
        checkpoints=args.checkpoints,
        simulations=args.measure_simulations,
        per_source=args.positions,
    )
    text, _ = write_advice(results, out / "study")
    print("\n".join(advice_table(results)))
    print(f"wrote {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

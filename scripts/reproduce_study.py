"""Ship a study's files into the repository, and recompute every table and plot from them.

A study's numbers are only as good as anyone's ability to recompute them (issue #13). A
study folder in `docs/results/` therefore holds what the numbers come from, small enough
to commit, and one command measures everything again from those files alone:

    python scripts/reproduce_study.py ship study/ docs/results/study-9x9-twins \\
        --self-pack docs/results/self-9x9-v2 --twin-crowd crowdzero/players/twin_crowd.toml
    python scripts/reproduce_study.py check docs/results/study-9x9-twins

`ship STUDY RESULTS` copies the study's outputs (results.json, index.html, the figures,
twins.json of `twin_report`) and its inputs: the study's games (games.sqlite.xz), the
imitation agent (its final checkpoint, and the snapshots the curves drew), the
member-vs-member games, the curves when drawn into STUDY/curves as docs/study.md does
(curves.json/.md/.png and their games, curves/curves.sqlite.xz), and the crowd run as a `pack_run.py` pack (RESULTS/crowd-run,
or an existing pack named by --crowd-pack). The self-play run is shipped on its own
(`pack_run.py pack`); --self-pack names it. `reproduce.json` records where each input
came from and where it is now.

`check RESULTS` rebuilds the inputs in a scratch folder (--work; the runs unpacked, the
stores decompressed) and runs the study, `twin_report` and `study-curves` there with the
shipped settings. Every game is already stored and the imitation agent already trained,
so nothing is played or trained: every measurement is made again (searches, value heads,
agreement, statistics, figures) and each number of the new results.json, twins.json and
curves.json is compared with the shipped one. Exit status 0 when all agree (to
--tolerance), 1 with the list of numbers that differ, 2 when the folder cannot be
checked (a file missing, a game or the imitation agent not shipped). `--only PART`
(study, twins, curves; repeatable) recomputes one part alone, say the curves shipped
after the rest was checked.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pack_run import pack, unpack, unxz, xz_store
from rich.console import Console

from crowdzero.analysis.study import twin_report
from crowdzero.analysis.study.cli_study import study_main
from crowdzero.analysis.study.curves import CurveSettings, curves_main
from crowdzero.analysis.study.settings import StudySettings
from crowdzero.net.checkpoint import checkpoint_files
from crowdzero.train.run_dir import RunDir

MANIFEST = "reproduce.json"
GAMES = "games.sqlite"
CURVES = "curves"
CURVE_STORE = "curves.sqlite"
CROWD_PACK = "crowd-run"
#: Study outputs copied as they are (the figures are every *.png beside them).
OUTPUTS = ("results.json", "index.html", "twins.json")
CURVE_OUTPUTS = (
    "curves.json",
    "curves.md",
    "curves.png",
    "exploitation.png",
    "agreement-cache.json",
)
#: What `check` recomputes, each on its own with --only: the study's results.json,
#: twin_report's twins.json and the curves' curves.json.
PARTS = ("study", "twins", "curves")
#: Keys whose values are bookkeeping of one execution, not measurements: when, where,
#: how long, which commit, and how much was reused.
BOOKKEEPING = frozenset(
    {"meta", "settings", "games_played", "games_reused", "reused", "created", "git_commit"}
)


#: How `differences` shows a key one side has and the other has not.
ABSENT = "<absent>"


class CheckError(RuntimeError):
    """The folder cannot be checked as shipped (a file missing, games not shipped...)."""


# -- ship ------------------------------------------------------------------------------


def _relative(path: Path, start: Path) -> str:
    """`path` relative to `start` (with .. where needed), as the manifest stores it."""
    return os.path.relpath(path.resolve(), start.resolve())


def ship(
    study: Path,
    results: Path,
    self_pack: Path | None = None,
    crowd_pack: Path | None = None,
    twin_crowd: str | None = None,
) -> dict[str, Any]:
    """Copy what `check` needs from the study folder `study` into `results`; returns the
    manifest it writes."""
    if study.resolve() == results.resolve():
        raise CheckError("ship into another folder than the study's own")
    data = json.loads((study / "results.json").read_text())
    settings = data["meta"]["settings"]
    results.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        if (study / name).is_file():
            shutil.copyfile(study / name, results / name)
    for figure in study.glob("*.png"):
        shutil.copyfile(figure, results / figure.name)
    xz_store(study / GAMES, results / f"{GAMES}.xz")

    imitation = study / "imitation"
    finals = checkpoint_files(imitation)
    if not finals:
        raise CheckError(f"{imitation} holds no imitation agent")
    (results / "imitation").mkdir(exist_ok=True)
    shutil.copyfile(finals[0], results / "imitation" / finals[0].name)

    manifest: dict[str, Any] = {"twin_crowd": twin_crowd}
    curves = study / CURVES
    if (curves / "curves.json").is_file():
        (results / CURVES).mkdir(exist_ok=True)
        for name in CURVE_OUTPUTS:
            if (curves / name).is_file():
                shutil.copyfile(curves / name, results / CURVES / name)
        # The curves score their games and run the detectors on the moves; the agents'
        # search distributions, most of the store, are read by nothing there.
        xz_store(curves / CURVE_STORE, results / CURVES / f"{CURVE_STORE}.xz", drop_policies=True)
        drawn = json.loads((curves / "curves.json").read_text())
        snapshots = results / "imitation" / "snapshots"
        for row in drawn["rows"]:
            point = Path(row["point"]["checkpoint"])
            if row["point"]["label"] == "imitation" and point.parent.name == "snapshots":
                snapshots.mkdir(exist_ok=True)
                shutil.copyfile(imitation / "snapshots" / point.name, snapshots / point.name)
        manifest["curves"] = {"out_dir": drawn["settings"]["out_dir"], "folder": CURVES}

    member_games = settings.get("member_games")
    if member_games:
        source = Path(member_games)
        if source.resolve().parent != results.resolve():
            shutil.copyfile(source, results / source.name)
        manifest["member_games"] = {"path": member_games, "file": source.name}

    crowd_run = Path(settings["crowd_run"])
    if crowd_pack is None:
        crowd_pack = results / CROWD_PACK
        pack(crowd_run, crowd_pack)
    manifest["runs"] = {settings["crowd_run"]: _relative(crowd_pack, results)}
    if settings.get("self_run"):
        if self_pack is None:
            raise CheckError("the study has a self-play run: name its pack with --self-pack")
        manifest["runs"][settings["self_run"]] = _relative(self_pack, results)
    (results / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# -- check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One number (or text) that came out differently."""

    file: str
    where: str
    shipped: Any
    recomputed: Any


def differences(
    shipped: Any, recomputed: Any, where: str = "", tolerance: float = 1e-9
) -> Iterator[tuple[str, Any, Any]]:
    """Every leaf where two JSON documents differ, bookkeeping keys left out. Numbers
    agree within `tolerance`, relative (absolute near 0)."""
    if isinstance(shipped, dict) and isinstance(recomputed, dict):
        for key in sorted(set(shipped) | set(recomputed)):
            if key in BOOKKEEPING:
                continue
            yield from differences(
                shipped.get(key, ABSENT), recomputed.get(key, ABSENT), f"{where}.{key}", tolerance
            )
    elif isinstance(shipped, list) and isinstance(recomputed, list):
        if len(shipped) != len(recomputed):
            yield where, f"{len(shipped)} items", f"{len(recomputed)} items"
            return
        for k, (a, b) in enumerate(zip(shipped, recomputed, strict=True)):
            yield from differences(a, b, f"{where}[{k}]", tolerance)
    elif _number(shipped) and _number(recomputed):
        if math.isnan(shipped) and math.isnan(recomputed):  # twins.json keeps NaN
            return
        if not math.isclose(shipped, recomputed, rel_tol=tolerance, abs_tol=tolerance):
            yield where, shipped, recomputed
    elif shipped != recomputed or isinstance(shipped, bool) != isinstance(recomputed, bool):
        yield where, shipped, recomputed


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rewrite(value: Any, paths: dict[str, str]) -> Any:
    """`value` with each scratch path put back as the shipped study named it."""
    if isinstance(value, dict):
        return {k: _rewrite(v, paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, paths) for v in value]
    if isinstance(value, str):
        for new, old in sorted(paths.items(), key=lambda item: -len(item[0])):
            value = value.replace(new, old)
    return value


def _settings(cls: type, recorded: dict[str, Any], **changes: Any) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{**{k: v for k, v in recorded.items() if k in names}, **changes})


def check(
    results: Path,
    work: Path,
    tolerance: float = 1e-9,
    console: Console | None = None,
    parts: Sequence[str] = PARTS,
) -> list[Difference]:
    """Recompute the study in `results` inside `work` and list what differs.

    `parts` (of `PARTS`) narrows the check to what changed, say the curves shipped after
    a study already checked: the three parts read the same shipped inputs and none reads
    another's output, so each stands alone."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise CheckError(f"no part {', '.join(unknown)} to check: the parts are {', '.join(PARTS)}")
    console = console or Console(stderr=True)
    manifest_path = results / MANIFEST
    if not manifest_path.is_file():
        raise CheckError(f"{results} has no {MANIFEST}: ship it with `ship` first")
    manifest = json.loads(manifest_path.read_text())
    shipped = json.loads((results / "results.json").read_text())
    recorded = shipped["meta"]["settings"]
    if recorded.get("opponent_modelling"):
        raise CheckError("the opponent-model agent's models are not shipped; not checkable")
    if work.exists() and any(work.iterdir()):
        raise CheckError(f"--work {work} is not empty")
    runs = work / "runs"
    paths: dict[str, str] = {}
    for original, packed in manifest["runs"].items():
        target = runs / Path(original).name
        unpack(results / packed, target)
        paths[str(target)] = original
    study = work / "study"
    paths[str(study)] = recorded["out_dir"]
    if {"study", "twins"} & set(parts):  # the curves read their own store, not this one
        unxz(results / f"{GAMES}.xz", study / GAMES)
    shutil.copytree(results / "imitation", study / "imitation")
    member_games = None
    if "member_games" in manifest:
        member_games = study / manifest["member_games"]["file"]
        shutil.copyfile(results / manifest["member_games"]["file"], member_games)
        paths[str(member_games)] = manifest["member_games"]["path"]
    by_original = {v: Path(k) for k, v in paths.items()}

    settings = _settings(
        StudySettings,
        recorded,
        crowd_run=by_original[recorded["crowd_run"]],
        self_run=by_original.get(recorded.get("self_run") or ""),
        out_dir=study,
        member_games=member_games,
    )
    found: list[Difference] = []
    if "study" in parts:
        result = study_main(settings, console)
        if result.meta.games_played:
            raise CheckError(
                f"the shipped store lacked {result.meta.games_played} games, which were "
                "played again: this is a new study, not a check"
            )
        if result.imitation_training is None or not result.imitation_training.reused:
            raise CheckError("the imitation agent was trained again: it is not shipped as it was")
        found += _compare(
            "results.json", results / "results.json", study / "results.json", paths, tolerance
        )

    if "twins" in parts and (results / "twins.json").is_file():
        crowd = manifest.get("twin_crowd") or RunDir.open(settings.crowd_run).config.train.crowd
        argv = [str(study / GAMES), "--crowd", str(crowd), "--json", str(study / "twins.json")]
        # twin_report read member games when its claim 3 counts them.
        drawn = json.loads((results / "twins.json").read_text())
        if member_games is not None and drawn.get("members_early_passes") is not None:
            argv += ["--members", str(member_games)]
        # ... and the crowd run's own store when it counted the exploit over training.
        if drawn.get("training_exploit") is not None:
            argv += ["--training", str(settings.crowd_run / "games.sqlite")]
        twin_report.main(argv)
        found += _compare(
            "twins.json", results / "twins.json", study / "twins.json", paths, tolerance
        )

    if "curves" in parts and "curves" in manifest:
        folder = manifest["curves"]["folder"]
        drawn = json.loads((results / folder / "curves.json").read_text())
        out = work / "curves"
        paths[str(out)] = manifest["curves"]["out_dir"]
        unxz(results / folder / f"{CURVE_STORE}.xz", out / CURVE_STORE)
        asked = drawn["settings"]
        curve_settings = _settings(
            CurveSettings,
            asked,
            runs=tuple(by_original[r] for r in asked["runs"]),
            imitation=study / "imitation" if asked.get("imitation") else None,
            out_dir=out,
            member_games=member_games if asked.get("member_games") else None,
        )
        if asked.get("imitation"):
            paths[str(study / "imitation")] = asked["imitation"]
        curves = curves_main(curve_settings, on_progress=console.print)
        if curves.games_played:
            raise CheckError(f"the shipped curves lacked {curves.games_played} games")
        found += _compare(
            f"{folder}/curves.json",
            results / folder / "curves.json",
            out / "curves.json",
            paths,
            tolerance,
        )
    return found


def _compare(
    name: str, shipped: Path, recomputed: Path, paths: dict[str, str], tolerance: float
) -> list[Difference]:
    """What differs between a shipped JSON file and its recomputed copy, whose scratch
    paths are first put back as the shipped study named them."""
    old = json.loads(shipped.read_text())
    new = _rewrite(json.loads(recomputed.read_text()), paths)
    return [Difference(name, *d) for d in differences(old, new, "", tolerance)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    to_ship = actions.add_parser("ship", help="copy a study's files into a results folder")
    to_ship.add_argument("study", type=Path, help="the study's --out folder")
    to_ship.add_argument("results", type=Path, help="the folder to commit")
    to_ship.add_argument("--self-pack", type=Path, help="the self-play run's pack_run.py pack")
    to_ship.add_argument(
        "--crowd-pack", type=Path, help="an existing pack of the crowd run (else packed anew)"
    )
    to_ship.add_argument("--twin-crowd", help="the crowd file twin_report reads")
    to_check = actions.add_parser("check", help="recompute a shipped study and compare")
    to_check.add_argument("results", type=Path, help="a folder written by ship")
    to_check.add_argument(
        "--work", type=Path, help="scratch folder (default: a temporary one, removed after)"
    )
    to_check.add_argument("--tolerance", type=float, default=1e-9)
    to_check.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="check only this part (repeatable; default: all of them)",
    )
    args = parser.parse_args(argv)
    for name in ("results", "work"):
        if getattr(args, name, None) is not None:
            setattr(args, name, getattr(args, name).resolve())
    if args.action == "check":
        # Shipped settings name repository files (a crowd file) relative to its root; ship
        # reads the study's paths as the study recorded them, from where it ran.
        os.chdir(Path(__file__).resolve().parents[1])
    try:
        if args.action == "ship":
            manifest = ship(
                args.study, args.results, args.self_pack, args.crowd_pack, args.twin_crowd
            )
            print(f"shipped {args.study} into {args.results}: {json.dumps(manifest)}")
            return 0
        parts = tuple(args.only or PARTS)
        if args.work is not None:
            found = check(args.results, args.work, args.tolerance, parts=parts)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                found = check(args.results, Path(tmp), args.tolerance, parts=parts)
    except (CheckError, FileNotFoundError, KeyError) as exc:
        print(f"reproduce_study: {exc}", file=sys.stderr)
        return 2
    for d in found:
        print(f"{d.file}{d.where}: shipped {d.shipped!r}, recomputed {d.recomputed!r}")
    skipped = [part for part in PARTS if part not in parts]
    checked = "" if not skipped else f" of {', '.join(parts)} (not checked: {', '.join(skipped)})"
    print(
        f"{len(found)} numbers differ{checked}"
        if found
        else f"{args.results}: every number{checked} recomputed"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

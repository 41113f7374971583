"""Carry a run from one machine to the next through the repository.

A run longer than a working session is stopped with the session and resumed in the next,
often on a fresh machine where `runs/` (not in git) is gone. `pack` writes what `--resume`
needs into a results folder, small enough to commit; `unpack` rebuilds the run directory.

    python scripts/pack_run.py pack runs/crowd-9x9-v2 docs/results/crowd-9x9-v2
    python scripts/pack_run.py unpack docs/results/crowd-9x9-v2 runs/crowd-9x9-v2
    python scripts/pack_run.py pack runs/advice-7x7/advice docs/results/advice-7x7/advice \
        --all-checkpoints

Packed (in OUT/resume/): config.toml, metrics.csv, learn_results.jsonl if any, the newest
checkpoint with its optimizer state, and games.sqlite as a consistent SQLite backup,
xz-compressed. The mark checkpoints (RUN/marks/*.pt) go to OUT/marks/ without their
optimizer state (a third of the size; they are only played, never trained on).
With --all-checkpoints, every older checkpoint goes to OUT/checkpoints/ the same way, and
`unpack` puts them back into RUN/checkpoints/: what a measurement "over training
checkpoints" (`crowdzero study --advice`, `study-curves`) needs to be recomputed.

A finished run whose store nothing reads may be committed without it (self-9x9-v2: the
study reads only the crowd run's store); `unpack` then rebuilds the run without games,
enough to evaluate its marks and checkpoints or to serve as the study's self-play control.
"""

from __future__ import annotations

import argparse
import lzma
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from crowdzero.net.checkpoint import load_checkpoint, save_checkpoint
from crowdzero.train.run_dir import RunDir

RESUME = "resume"
STORE = "games.sqlite.xz"
CHECKPOINTS = "checkpoints"


def _save_without_optimizer(path: Path, target: Path) -> None:
    ckpt = load_checkpoint(path)
    save_checkpoint(
        target,
        ckpt.build_model(),
        step=ckpt.step,
        metadata={**ckpt.metadata, "optimizer": "dropped by pack_run.py"},
    )


def xz_store(store: Path, target: Path, *, drop_policies: bool = False) -> None:
    """An xz-compressed, consistent copy of a SQLite store, even a live one in WAL mode.

    `drop_policies` leaves out the agents' search distributions (``moves.policy``, a
    float32 vector a move and nearly all of a store's bytes), for a store whose readers
    use only the moves and results: a study's curves, whose games are scored, never learnt
    from. The store itself is not touched."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / store.name
        source = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        backup = sqlite3.connect(copy)
        source.backup(backup)  # consistent even with a WAL beside it
        source.close()
        backup.execute("PRAGMA journal_mode = DELETE")
        if drop_policies:
            with backup:
                backup.execute("UPDATE moves SET policy = NULL")
            backup.execute("VACUUM")
        backup.close()
        with copy.open("rb") as f, lzma.open(target, "wb", preset=9) as g:
            shutil.copyfileobj(f, g, length=1 << 20)


def unxz(source: Path, target: Path) -> None:
    """Decompress an xz file (a store `xz_store` wrote) to `target`, folders made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(source, "rb") as f, target.open("wb") as g:
        shutil.copyfileobj(f, g, length=1 << 20)


def pack(run: Path, out: Path, all_checkpoints: bool = False) -> None:
    run_dir = RunDir.open(run)
    resume = out / RESUME
    resume.mkdir(parents=True, exist_ok=True)
    for name in ("config.toml", "metrics.csv", "learn_results.jsonl"):
        if (run / name).exists():
            shutil.copyfile(run / name, resume / name)
    latest = run_dir.latest_checkpoint_path()
    for old in resume.glob("ckpt-*.pt"):
        old.unlink()
    if latest is not None:
        shutil.copyfile(latest, resume / latest.name)
    xz_store(run / "games.sqlite", resume / STORE)
    marks = run / "marks"
    if marks.is_dir():
        (out / "marks").mkdir(parents=True, exist_ok=True)
        for path in sorted(marks.glob("*.pt")):
            _save_without_optimizer(path, out / "marks" / path.name)
    if all_checkpoints:
        older = [path for path in run_dir.checkpoint_paths() if path != latest]
        (out / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        for path in older:
            _save_without_optimizer(path, out / CHECKPOINTS / path.name)
    print(f"packed {run} into {out}/{RESUME} (newest checkpoint: {latest and latest.name})")


def unpack(out: Path, run: Path) -> None:
    resume = out / RESUME
    if (run / "config.toml").exists():
        raise SystemExit(f"{run} already holds a run; move it aside first")
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    for name in ("config.toml", "metrics.csv", "learn_results.jsonl"):
        if (resume / name).exists():
            shutil.copyfile(resume / name, run / name)
    for ckpt in [*resume.glob("ckpt-*.pt"), *(out / CHECKPOINTS).glob("ckpt-*.pt")]:
        shutil.copyfile(ckpt, run / "checkpoints" / ckpt.name)
    if (resume / STORE).is_file():
        unxz(resume / STORE, run / "games.sqlite")
    else:
        print(f"{resume} ships no {STORE}: {run} has its checkpoints but no games")
    if (out / "marks").is_dir():
        shutil.copytree(out / "marks", run / "marks", dirs_exist_ok=True)
    RunDir.open(run)  # refuses a broken result at once, not hours later
    print(f"unpacked {out}/{RESUME} into {run}; continue with --resume {run}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument(
        "--all-checkpoints",
        action="store_true",
        help="pack: every checkpoint too, without optimizer state (OUT/checkpoints/)",
    )
    args = parser.parse_args()
    if args.action == "pack":
        pack(args.source, args.target, all_checkpoints=args.all_checkpoints)
    else:
        unpack(args.source, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())

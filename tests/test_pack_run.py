"""scripts/pack_run.py: a run goes into a results folder and comes back whole, and a
results folder committed without its store still unpacks into a run that opens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tiny_run import TINY_RUN, stored_run

from crowdzero.net.checkpoint import load_checkpoint, save_checkpoint
from crowdzero.train.run_dir import RunDir

ROOT = Path(__file__).resolve().parents[1]


def pack_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/pack_run.py", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_a_run_packs_and_unpacks_with_its_games_and_without_them(tmp_path: Path) -> None:
    run = stored_run(tmp_path / "run", {**TINY_RUN, "train.mode": "self"}, [], games=3, step=7)
    out = tmp_path / "results"
    packed = pack_run("pack", str(run.path), str(out))
    assert packed.returncode == 0, packed.stderr
    assert (out / "resume" / "games.sqlite.xz").is_file()

    back = pack_run("unpack", str(out), str(tmp_path / "back"))
    assert back.returncode == 0, back.stderr
    again = RunDir.open(tmp_path / "back")
    with again.open_store() as store:
        assert store.count_games() == 3
    assert [p.name for p in again.checkpoint_paths()] == ["ckpt-00000007.pt"]

    (out / "resume" / "games.sqlite.xz").unlink()  # a finished run committed without games
    bare = pack_run("unpack", str(out), str(tmp_path / "bare"))
    assert bare.returncode == 0, bare.stderr
    assert "ships no games.sqlite.xz" in bare.stdout
    opened = RunDir.open(tmp_path / "bare")
    assert opened.latest_checkpoint_path() is not None
    assert not (tmp_path / "bare" / "games.sqlite").exists()


def test_all_checkpoints_come_back_for_a_measurement_over_training(tmp_path: Path) -> None:
    run = stored_run(tmp_path / "run", {**TINY_RUN, "train.mode": "self"}, [], games=1, step=9)
    model = load_checkpoint(run.checkpoint_path(9)).build_model()
    for step in (3, 6):
        save_checkpoint(run.checkpoint_path(step), model, step=step)
    out = tmp_path / "results"
    packed = pack_run("pack", str(run.path), str(out), "--all-checkpoints")
    assert packed.returncode == 0, packed.stderr
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == [
        "ckpt-00000003.pt",
        "ckpt-00000006.pt",
    ]  # the newest is in resume/, with its optimizer state
    assert load_checkpoint(out / "checkpoints" / "ckpt-00000003.pt").step == 3

    back = pack_run("unpack", str(out), str(tmp_path / "back"))
    assert back.returncode == 0, back.stderr
    again = RunDir.open(tmp_path / "back")
    assert sorted(p.name for p in again.checkpoint_paths()) == [
        "ckpt-00000003.pt",
        "ckpt-00000006.pt",
        "ckpt-00000009.pt",
    ]

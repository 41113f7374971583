"""Read-only and full disks: one clear line, a non-zero exit, nothing lost.

Real file systems, not mocks: each command runs in a private mount namespace
(``unshare -m``) where the run folder is bind-mounted read-only, or its checkpoints
folder is a tmpfs of 8 KiB. Read-only mounts stop root too (chmod does not). The mounts
vanish with the namespace, so nothing leaks to the machine. Skipped where mounting is
not permitted.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from folder_snapshot import snapshot
from test_bad_input_cli import refused_in_one_line, tiny_config
from tiny_run import stored_run

from crowdzero.players.random import RandomPlayer
from crowdzero.store.game_store import GameStore
from crowdzero.train.run_dir import RunDir


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = "mount -t tmpfs -o size=4k tmpfs /mnt && mount -o remount,ro /mnt"
    result = subprocess.run(["unshare", "-m", "sh", "-c", probe], capture_output=True)
    return result.returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_mount(), reason="needs unshare -m and mount (a private mount namespace)"
)


def crowdzero_with_mounts(
    mounts: list[str], *args: str, after: str = "", limit: float = 250
) -> Any:
    """`crowdzero ARGS` in a private mount namespace after the `mounts` commands, killed
    after `limit` seconds (exit 124); `after` runs in the namespace once the command has
    finished (its output follows a line "--- after")."""
    command = shlex.join(["timeout", str(limit), sys.executable, "-m", "crowdzero.cli", *args])
    script = " && ".join(mounts) + f" || exit 99\n{command}\nstatus=$?\n"
    if after:
        script += f"echo '--- after'\n{after}\n"
    script += "exit $status\n"
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 99, result.stderr
    return result


def read_only(folder: Path) -> list[str]:
    path = shlex.quote(str(folder))
    return [f"mount --bind {path} {path}", f"mount -o remount,bind,ro {path}"]


@pytest.fixture(scope="module")
def run_with_games(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """A 5x5 crowd run with a checkpoint and 6 stored games."""
    folder = tmp_path_factory.mktemp("disk") / "r"
    from tiny_run import TINY_RUN

    return stored_run(folder, TINY_RUN, [RandomPlayer(seed=1)], games=6, step=10)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["train", "--resume", "RUN", "--minutes", "0.01"], ["Read-only file system"]),
        (["serve", "RUN", "--port", "1"], ["RUN/games.sqlite", "writable"]),
        (["export-sgf", "RUN", "--out", "OUT"], ["RUN/games.sqlite", "writable"]),
        (["ratings", "RUN"], ["RUN/games.sqlite", "writable"]),
    ],
)
def test_commands_on_a_read_only_run_refuse_in_one_line(
    run_with_games: RunDir, tmp_path: Path, args: list[str], words: list[str]
) -> None:
    run = run_with_games.path
    args = [a.replace("RUN", str(run)).replace("OUT", str(tmp_path / "sgf")) for a in args]
    before = snapshot(run)
    result = crowdzero_with_mounts(read_only(run), *args)
    line = refused_in_one_line(result, *[w.replace("RUN", str(run)) for w in words])
    assert "not an SQLite database" not in line
    assert snapshot(run) == before
    assert not (tmp_path / "sgf").exists()


def test_config_of_a_read_only_run_still_shows(run_with_games: RunDir) -> None:
    result = crowdzero_with_mounts(
        read_only(run_with_games.path), "config", str(run_with_games.path)
    )
    assert result.returncode == 0, result.stderr
    assert "simulations = 4" in result.stdout


def test_export_sgf_into_a_read_only_folder_is_one_line(
    run_with_games: RunDir, tmp_path: Path
) -> None:
    out = tmp_path / "sgf"
    out.mkdir()
    result = crowdzero_with_mounts(
        read_only(out), "export-sgf", str(run_with_games.path), "--out", str(out)
    )
    refused_in_one_line(result, "Read-only file system")
    assert list(out.iterdir()) == []


@pytest.mark.timeout(300)
def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_loses_no_game(
    tmp_path: Path,
) -> None:
    """The checkpoints folder is a full 8 KiB tmpfs: training plays and stores games,
    then cannot write its checkpoint. One line says why and how to go on; every game
    stays in the store, no partial checkpoint is left, and the run resumes."""
    run = RunDir.create(tmp_path / "r", tiny_config(**{"train.mode": "self"}))
    checkpoints = shlex.quote(str(run.checkpoints_dir))
    result = crowdzero_with_mounts(
        [f"mount -t tmpfs -o size=8k tmpfs {checkpoints}"],
        "train",
        "--resume",
        str(run.path),
        "--games",
        "1",  # not a time budget: the test must not depend on how fast a game ends
        after=f"ls -A {checkpoints}",
    )
    errors = result.stderr
    listing = result.stdout.partition("--- after")[2]
    assert result.returncode == 2, errors
    assert "Traceback" not in errors and "╭" not in errors.split("error:")[-1]
    error_lines = [line for line in errors.splitlines() if "error:" in line]
    assert len(error_lines) == 1, errors
    assert "No space left on device" in error_lines[0]
    assert f"crowdzero train --resume {run.path}" in error_lines[0]
    assert listing.strip() == ""  # no partial checkpoint file
    with GameStore(run.games_path) as store:
        games = store.count_games()
    assert games > 0

    again = ["train", "--resume", str(run.path), "--quiet", "--minutes", "0.01"]
    resumed = subprocess.run(
        [sys.executable, "-m", "crowdzero.cli", *again],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    with GameStore(run.games_path) as store:
        assert store.count_games() >= games
    assert run.checkpoint_paths()


def full_disk_with(folder: Path, run: Path) -> list[str]:
    """`folder` becomes a 4 MiB tmpfs holding a copy of `run` as folder/r (and the
    checksum of its store in folder/r.sum), then is filled to the last byte."""
    disk, source = shlex.quote(str(folder)), shlex.quote(str(run))
    return [
        f"mount -t tmpfs -o size=4m tmpfs {disk}",
        f"cp -a {source} {disk}/r",
        f"sha256sum {disk}/r/games.sqlite > {disk}/r.sum",
        f"{{ dd if=/dev/zero of={disk}/filler bs=1k 2>/dev/null; true; }}",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["ratings", "DISK/r"],
        ["serve", "DISK/r", "--port", "1"],
        ["export-sgf", "DISK/r", "--out", "DISK/sgf"],
        ["train", "--resume", "DISK/r", "--minutes", "0.01"],
    ],
    ids=["ratings", "serve", "export-sgf", "train"],
)
def test_commands_on_a_full_disk_refuse_in_one_line_and_lose_nothing(
    run_with_games: RunDir, tmp_path: Path, args: list[str]
) -> None:
    """The run folder is on a full tmpfs: SQLite cannot make the files it needs beside
    the store, SGF files and the run's lock cannot be written. Each command says so in
    one line (train may warn before it) and the store's bytes are as they were."""
    disk = tmp_path / "disk"
    disk.mkdir()
    args = [a.replace("DISK", str(disk)) for a in args]
    result = crowdzero_with_mounts(
        full_disk_with(disk, run_with_games.path),
        *args,
        after=f"sha256sum -c {shlex.quote(str(disk))}/r.sum",
        limit=120,
    )
    errors = result.stderr
    assert result.returncode == 2, errors
    assert "Traceback" not in errors, errors
    lines = [line for line in errors.splitlines() if line.strip()]
    error_lines = [line for line in lines if line.startswith("error:")]
    assert len(error_lines) == 1, errors
    if args[0] != "train":
        assert lines == error_lines, errors
    assert result.stdout.partition("--- after")[2].strip().endswith(": OK"), result.stdout

"""Bad arguments and bad files on the command line: one clear line on stderr, a non-zero
exit, no traceback, and nothing created or changed on disk.

Every check runs the real `crowdzero` command in a subprocess, on real files: truncated
checkpoints, a config.toml that is not UTF-8 or is empty, a FIFO given to `loadsgf`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from folder_snapshot import snapshot
from tiny_run import TINY_CROWD, TINY_RUN

from crowdzero.net.checkpoint import save_checkpoint
from crowdzero.net.model import PolicyValueNet
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir


def crowdzero(*args: str, stdin: str = "", cwd: Path | None = None, timeout: float = 240) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "crowdzero.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def refused_in_one_line(result: Any, *words: str) -> str:
    """The one line a refused command printed; checks exit code, stderr and no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def tiny_config(**extra: Any) -> RunConfig:
    return apply_overrides(RunConfig(), {**TINY_RUN, **extra})


def write_checkpoint(path: Path, size: int = 5, step: int = 0) -> Path:
    cfg = tiny_config(**{"board.size": size})
    return save_checkpoint(path, PolicyValueNet(cfg.net), step=step)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ---------------------------------------------------------------------- gtp start-up


@pytest.fixture(scope="module")
def checkpoint_5x5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "net-5x5.pt")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--player", "bogus"], ["unknown player 'bogus'", "known kinds"]),
        (["--player", "gnugo:99"], ["gnugo:99", "0 to 10, not 99"]),
        (["--player", "checkpoint:"], ["checkpoint needs a path"]),
        (["--player", "checkpoint:/no/such/net.pt"], ["does not exist"]),
        (["--size", "25"], ["board size 25", "--size"]),
        (["--size", "1"], ["board size 1"]),
        (["--komi", "nan"], ["komi", "finite"]),
        (["--komi", "inf"], ["komi", "finite"]),
    ],
)
def test_gtp_start_up_errors_are_one_line(args: list[str], words: list[str]) -> None:
    refused_in_one_line(crowdzero("gtp", *args, stdin="name\n"), *words)


def test_gtp_with_a_truncated_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "net.pt")
    truncate(path)
    refused_in_one_line(crowdzero("gtp", "--player", f"checkpoint:{path}"), "truncated")


def test_gtp_refuses_a_starting_size_its_network_cannot_play(checkpoint_5x5: Path) -> None:
    result = crowdzero("gtp", "--player", f"checkpoint:{checkpoint_5x5}", "--size", "9")
    refused_in_one_line(result, "plays 5x5 only", "not 9x9")


def gtp_replies(stdout: str) -> list[str]:
    return [reply.strip() for reply in stdout.split("\n\n") if reply.strip()]


def test_boardsize_refuses_sizes_the_network_cannot_play(checkpoint_5x5: Path) -> None:
    """A 5x5 network starts on 5x5 when no size is given, refuses `boardsize 19` with the
    words GTP prescribes, and still plays after it."""
    script = "genmove b\nboardsize 19\ngenmove w\nboardsize 5\nclear_board\ngenmove b\nquit\n"
    result = crowdzero("gtp", "--player", f"checkpoint:{checkpoint_5x5}@2", stdin=script)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stdout
    replies = gtp_replies(result.stdout)
    on_5x5 = re.compile(r"= ([A-E][1-5]|pass|resign)", re.IGNORECASE)  # no I column
    assert on_5x5.fullmatch(replies[0])
    assert replies[1] == "? unacceptable size"
    assert on_5x5.fullmatch(replies[2])  # still on 5x5
    assert replies[3:5] == ["=", "="]
    assert on_5x5.fullmatch(replies[5])


def test_loadsgf_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """A FIFO with no writer, /dev/stdin and a directory are refused at once; the next
    command is answered (it used to be swallowed while loadsgf blocked)."""
    fifo = tmp_path / "game.sgf"
    os.mkfifo(fifo)
    script = f"loadsgf {fifo}\nloadsgf /dev/stdin\nloadsgf {tmp_path}\nname\nquit\n"
    result = crowdzero("gtp", stdin=script, timeout=60)
    assert result.returncode == 0, result.stderr
    replies = gtp_replies(result.stdout)
    assert replies[0] == f"? cannot load file: {fifo} is not a regular file"
    assert replies[1] == "? cannot load file: /dev/stdin is not a regular file"
    assert replies[2] == f"? cannot load file: {tmp_path} is not a regular file"
    assert replies[3] == "= crowdzero (random)"


def test_loadsgf_refuses_a_game_on_a_size_the_network_cannot_play(
    tmp_path: Path, checkpoint_5x5: Path
) -> None:
    sgf = tmp_path / "g.sgf"
    sgf.write_text("(;FF[4]GM[1]SZ[9]KM[7.5];B[ee];W[cc])")
    script = f"loadsgf {sgf}\nquit\n"
    result = crowdzero("gtp", "--player", f"checkpoint:{checkpoint_5x5}", stdin=script)
    assert gtp_replies(result.stdout)[0] == "? cannot load file: the player cannot play 9x9"


# ---------------------------------------------------------------------- crowd members


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("gnugo:99", ["gnugo level must be 0..10, not 99"]),
        ("pachi:3", ["pachi play-outs"]),
        ("heuristic:nosuch", ["nosuch"]),
        ("checkpoint:/no/such/net.pt", ["does not exist"]),
        ("TRUNCATED", ["truncated"]),
        ("WRONG_SIZE", ["is for 9x9", "5x5"]),
    ],
)
def test_a_crowd_member_with_a_bad_argument_starts_no_run(
    tmp_path: Path, spec: str, words: list[str]
) -> None:
    if spec == "TRUNCATED":
        path = write_checkpoint(tmp_path / "net.pt")
        truncate(path)
        spec = f"checkpoint:{path}"
    elif spec == "WRONG_SIZE":
        spec = f"checkpoint:{write_checkpoint(tmp_path / 'net9.pt', size=9)}"
    crowd = tmp_path / "crowd.toml"
    crowd.write_text(f'{TINY_CROWD}\n[[member]]\nspec = "{spec}"\n')
    run = tmp_path / "runs" / "r"
    sets = [arg for key, value in TINY_RUN.items() for arg in ("--set", f"{key}={value}")]
    result = crowdzero("train", "--run", str(run), "--crowd", str(crowd), "--quiet", *sets)
    refused_in_one_line(result, str(crowd), *words)
    assert not run.exists() and not (tmp_path / "runs").exists()


def test_resuming_with_a_broken_crowd_member_changes_nothing(tmp_path: Path) -> None:
    crowd = tmp_path / "crowd.toml"
    crowd.write_text(TINY_CROWD)
    run = RunDir.create(tmp_path / "r", tiny_config(**{"train.crowd": str(crowd)}))
    crowd.write_text(f'{TINY_CROWD}\n[[member]]\nspec = "gnugo:99"\n')
    before = snapshot(run.path)
    result = crowdzero("train", "--resume", str(run.path), "--quiet", "--minutes", "0.01")
    refused_in_one_line(result, "gnugo level must be 0..10")
    assert snapshot(run.path) == before


# ---------------------------------------------------------------------- config files


def test_a_config_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", tiny_config())
    run.config_path.write_bytes(b"\xff")
    refused_in_one_line(crowdzero("config", str(run.path)), "not UTF-8", "0xff")
    result = crowdzero("train", "--resume", str(run.path), "--quiet")
    refused_in_one_line(result, "not UTF-8")
    assert run.config_path.read_bytes() == b"\xff"


def test_a_crowd_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    crowd = tmp_path / "crowd.toml"
    crowd.write_bytes(b'[[member]]\nspec = "random\xff"\n')
    result = crowdzero("train", "--run", str(tmp_path / "r"), "--crowd", str(crowd))
    refused_in_one_line(result, "not UTF-8")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("content", ["", "[board]\nsize = 5\n", "# only a comment\n"])
def test_an_incomplete_run_config_is_refused_not_read_as_defaults(
    tmp_path: Path, content: str
) -> None:
    run = RunDir.create(tmp_path / "r", tiny_config(**{"train.mode": "self"}))
    run.config_path.write_text(content)
    before = snapshot(run.path)
    result = crowdzero("train", "--resume", str(run.path), "--quiet", "--minutes", "0.01")
    refused_in_one_line(result, "lacks", "board.komi", "crowdzero config")
    refused_in_one_line(crowdzero("config", str(run.path)), "lacks")
    assert snapshot(run.path) == before


# ---------------------------------------------------------------------- checkpoints


@pytest.mark.timeout(300)
def test_resume_refuses_to_start_over_when_no_checkpoint_loads(tmp_path: Path) -> None:
    """Every checkpoint truncated: resuming used to start the network over at step 0
    and overwrite later checkpoints; now it says what is broken and how to start over."""
    run = RunDir.create(tmp_path / "r", tiny_config(**{"train.mode": "self"}))
    run.open_store().close()
    for step in (20, 40):
        write_checkpoint(run.checkpoint_path(step), step=step)
        truncate(run.checkpoint_path(step))
    before = snapshot(run.path)
    result = crowdzero("train", "--resume", str(run.path), "--minutes", "0.05")
    line = refused_in_one_line(result, "none of the 2 checkpoints", "ckpt-00000040.pt", "mv ")
    assert "truncated" in line and "--run" in line
    assert snapshot(run.path) == before


def test_an_unreadable_newest_checkpoint_still_falls_back_to_an_older_one(
    tmp_path: Path,
) -> None:
    from crowdzero.train.training_run import TrainingRun

    run = RunDir.create(tmp_path / "r", tiny_config(**{"train.mode": "self"}))
    write_checkpoint(run.checkpoint_path(20), step=20)
    write_checkpoint(run.checkpoint_path(40), step=40)
    truncate(run.checkpoint_path(40))
    training = TrainingRun(run)
    try:
        assert training.learner.step == 20
    finally:
        training.close()


def test_wall_time_in_the_metrics_goes_on_across_sessions(tmp_path: Path) -> None:
    """elapsed_s is the session's own time; wall_s counts every session of the run, so
    a resume does not start the run's clock over (issue #15's last minor item)."""
    from crowdzero.train.training_run import TrainingRun

    run = RunDir.create(tmp_path / "r", tiny_config(**{"train.mode": "self"}))
    run.append_metrics({"step": 0, "elapsed_s": 30.0, "wall_s": 250.0})
    training = TrainingRun(run)
    try:
        assert training.stats.wall >= 250.0
        assert training.stats.elapsed < 60.0
    finally:
        training.close()

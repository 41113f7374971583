"""Every command with each kind of bad argument: one line on stderr, a non-zero exit, no
traceback, and nothing changed on disk.

The commands run in-process (typer's CliRunner; a subprocess per case would cost seconds)
in a folder of real runs and files: a run with games and a checkpoint, a run with
neither, a self-play run, runs on another size, with a config.toml that is not UTF-8 or
lacks keys, with a store that is not a database, and plain folders and files where a run
is expected. The folder is compared file by file, byte by byte, before and after each
case. Training, the web server and the study are replaced by a tripwire, so a bad
argument that gets through fails its case at once instead of starting work.

Paths are relative to that folder (the commands run in it), so `crowdzero train` with
no run named would show up as a new `runs/` folder.
"""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from folder_snapshot import snapshot
from tiny_run import TINY_CROWD, TINY_RUN, stored_run
from typer.testing import CliRunner

from crowdzero.cli import app
from crowdzero.players.random import RandomPlayer
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir

runner = CliRunner()


def _config(**extra: Any) -> RunConfig:
    return apply_overrides(RunConfig(), {**TINY_RUN, **extra})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every case runs in (see the module docstring for what it holds)."""
    ws = tmp_path_factory.mktemp("bad-arguments")
    crowd = ws / "crowd.toml"
    crowd.write_text(TINY_CROWD)
    (ws / "bad-crowd.toml").write_text(f'{TINY_CROWD}\n[[member]]\nspec = "bogus"\n')
    (ws / "bad-config.toml").write_text("[board\nsize = 5\n")
    (ws / "notutf8.toml").write_bytes(b"[board]\nkomi = 7.5 # \xff\n")
    (ws / "nan-komi.toml").write_text("[board]\nkomi = nan\n")
    (ws / "huge-komi.toml").write_text("[board]\nkomi = " + "9" * 400 + "\n")
    (ws / "file.txt").write_text("not a run")
    (ws / "notes").mkdir()
    (ws / "notes" / "todo.txt").write_text("buy milk")
    for folder, text in (("garbled-study", "{not json"), ("wrong-study", '{"meta": 1}')):
        (ws / folder).mkdir()
        (ws / folder / "results.json").write_text(text)

    crowd_run = {**TINY_RUN, "train.crowd": str(crowd)}
    stored_run(ws / "run", crowd_run, [RandomPlayer(seed=1)], games=4, step=10)
    stored_run(ws / "self-run", {**TINY_RUN, "train.mode": "self"}, [], games=2, step=10)
    RunDir.create(ws / "empty-run", _config(**{"train.crowd": str(crowd)}))
    RunDir.create(ws / "self-7x7", _config(**{"train.mode": "self", "board.size": 7}))
    RunDir.create(ws / "bad-utf8-run", _config()).config_path.write_bytes(b"\xff")
    RunDir.create(ws / "incomplete-run", _config()).config_path.write_text("[board]\nsize = 5\n")
    RunDir.create(ws / "corrupt-store-run", _config()).games_path.write_bytes(b"garbage" * 200)
    return ws


@pytest.fixture(autouse=True)
def nothing_may_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training, serving and the study fail at once if a case ever gets that far."""
    import uvicorn

    from crowdzero.analysis.study import cli_study, curves
    from crowdzero.train import training_run

    def tripwire(what: str) -> Any:
        def started(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"{what} started: the bad argument was accepted")

        return started

    monkeypatch.setattr(training_run, "TrainingRun", tripwire("training"))
    monkeypatch.setattr(uvicorn, "run", tripwire("the web server"))
    monkeypatch.setattr(cli_study, "study_main", tripwire("the study"))
    monkeypatch.setattr(curves, "curves_main", tripwire("the curves"))


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def refused_in_one_line(args: list[str], stdin: str = "quit\n") -> str:
    """Run `crowdzero ARGS`; the one line it refused with (checks exit, streams)."""
    result = runner.invoke(app, args, input=stdin)
    if not isinstance(result.exception, SystemExit):  # an escaped exception: show it
        assert result.exc_info is not None
        pytest.fail("".join(traceback.format_exception(*result.exc_info)))
    assert result.exit_code != 0, result.output
    assert result.stdout == "", result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


#: (arguments, words the line must hold). Runs by name: run (crowd mode, 4 games, a
#: checkpoint), self-run, empty-run (no games, no checkpoint), self-7x7, bad-utf8-run,
#: incomplete-run, corrupt-store-run; `new` and `missing` do not exist.
CASES: dict[str, list[tuple[list[str], list[str]]]] = {
    "train": [
        (["--resume", "missing"], ["missing holds no run to resume"]),
        (["--resume", "notes"], ["notes holds no run to resume"]),
        (["--resume", "file.txt"], ["file.txt holds no run to resume"]),
        (["--run", "notes"], ["no crowdzero run"]),
        (["--run", "file.txt"], ["file.txt exists and is not a directory"]),
        (["--run", "bad-utf8-run"], ["not UTF-8"]),
        (["--resume", "incomplete-run"], ["lacks", "board.komi"]),
        (["--run", "new", "--set", "search.nope=1"], ["search.nope"]),
        (["--run", "new", "--set", "board.size"], ["--set wants KEY=VALUE"]),
        (["--run", "new", "--set", "board=5"], ["board is a section"]),
        (["--run", "new", "--set", "board.size=nine"], ["board.size", "nine"]),
        (["--run", "new", "--set", "train.minutes=true"], ["train.minutes", "number"]),
        (["--run", "new", "--set", "net.board_size=7"], ["net.board_size", "board.size"]),
        (["--run", "new", "--set", "board.komi=nan"], ["board.komi", "finite"]),
        (["--run", "new", "--set", "board.komi=-inf"], ["board.komi", "finite"]),
        (["--run", "new", "--set", "board.komi=1" + "0" * 30], ["board.komi", "64-bit"]),
        (["--run", "new", "--set", "board.size=" + "9" * 5000], ["board.size", "too long"]),
        (["--run", "new", "--set", "train.learning_rate=-1"], ["learning_rate", "more than 0"]),
        (["--run", "new", "--set", "train.weight_decay=nan"], ["weight_decay", "finite"]),
        (["--run", "new", "--set", "train.min_replay=10000000"], ["min_replay"]),
        (["--run", "new", "--set", "search.algorithm=magic"], ["magic"]),
        (["--run", "new", "--minutes", "nan"], ["train.minutes", "finite"]),
        (["--run", "new", "--minutes", "inf"], ["train.minutes", "finite"]),
        (["--run", "new", "--minutes", "-1"], ["minutes", "at least 0"]),
        (["--run", "new", "--minutes", "soon"], ["--minutes", "valid number"]),
        (["--run", "new", "--simulations", "0"], ["simulations"]),
        (["--run", "new", "--simulations", "-5"], ["simulations"]),
        (["--run", "new", "--simulations", "2.5"], ["--simulations", "valid integer"]),
        (["--run", "new", "--concurrent-games", "0"], ["concurrent_games"]),
        (["--run", "new", "--board-size", "4"], ["size", "4"]),
        (["--run", "new", "--board-size", "-9"], ["size", "-9"]),
        (["--run", "new", "--mode", "solo"], ["train.mode", "solo"]),
        (["--run", "new", "--crowd", "missing.toml"], ["cannot read crowd file"]),
        (["--run", "new", "--crowd", "notes"], ["cannot read crowd file"]),
        (["--run", "new", "--crowd", "bad-crowd.toml"], ["bad-crowd.toml", "bogus"]),
        (["--run", "new", "--crowd", "notutf8.toml"], ["not UTF-8"]),
        (["--run", "new", "--config", "missing.toml"], ["cannot read config"]),
        (["--run", "new", "--config", "notes"], ["cannot read config", "directory"]),
        (["--run", "new", "--config", "bad-config.toml"], ["not valid TOML"]),
        (["--run", "new", "--config", "notutf8.toml"], ["not UTF-8"]),
        (["--run", "new", "--config", "nan-komi.toml"], ["board.komi", "finite"]),
        (["--run", "new", "--config", "huge-komi.toml"], ["too large"]),
        (["--resume", "run", "--set", "board.size=7"], ["board.size", "cannot change"]),
        (["--resume", "run", "--mode", "self"], ["train.mode", "cannot change"]),
        (["--resume", "run", "--minutes", "nan"], ["train.minutes", "finite"]),
        (["--resume", "run", "--set", "train.crowd=missing.toml"], ["cannot read crowd"]),
        (["--mode", "self", "--board-size", "25"], ["size", "25"]),
        (["--bogus"], ["--bogus", "train --help"]),
    ],
    "gtp": [
        (["--player", "bogus"], ["unknown player 'bogus'", "known kinds"]),
        (["--player", ""], ["unknown player ''"]),
        (["--player", "gnugo:99"], ["gnugo:99"]),
        (["--player", "gnugo:strong"], ["strong", "not an integer"]),
        (["--player", "pachi:3"], ["pachi"]),
        (["--player", "mcts:0"], ["playouts must be at least 1"]),
        (["--player", "mcts:many"], ["mcts:PLAYOUTS"]),
        (["--player", "random:-1"], ["random:-1"]),
        (["--player", "heuristic:nosuch"], ["nosuch"]),
        (["--player", "checkpoint:"], ["checkpoint needs a path"]),
        (["--player", "checkpoint:missing.pt"], ["missing.pt", "does not exist"]),
        (["--player", "checkpoint:notes"], ["notes holds no usable checkpoint"]),
        (["--player", "checkpoint:empty-run"], ["empty-run holds no usable checkpoint"]),
        (["--player", "checkpoint:file.txt"], ["file.txt"]),
        (["--player", "checkpoint:run@0"], ["simulations"]),
        (["--player", "checkpoint:run", "--size", "9"], ["plays 5x5 only", "not 9x9"]),
        (["--size", "0"], ["board size 0"]),
        (["--size", "-3"], ["board size -3"]),
        (["--size", "25"], ["board size 25"]),
        (["--size", "nine"], ["--size", "valid integer"]),
        (["--komi", "nan"], ["komi", "finite"]),
        (["--komi", "-inf"], ["komi", "finite"]),
        (["--komi", "lots"], ["--komi", "valid number"]),
    ],
    "serve": [
        (["missing"], ["there is no run at missing"]),
        (["notes"], ["notes is not a crowdzero run"]),
        (["file.txt"], ["there is no run at file.txt"]),
        (["bad-utf8-run"], ["not UTF-8"]),
        (["incomplete-run"], ["lacks"]),
        (["empty-run", "--port", "0"], ["--port must be 1..65535, not 0"]),
        (["empty-run", "--port", "-1"], ["--port must be 1..65535, not -1"]),
        (["empty-run", "--port", "70000"], ["--port must be 1..65535, not 70000"]),
        (["empty-run", "--port", "http"], ["--port", "valid integer"]),
        (["empty-run", "--port", "BUSY"], ["cannot listen", "another program listens"]),
        (["empty-run", "--host", "192.0.2.1"], ["cannot listen on 192.0.2.1"]),
        ([], ["Missing argument 'run'"]),
    ],
    "ratings": [
        (["missing"], ["there is no run at missing"]),
        (["notes"], ["notes is not a crowdzero run"]),
        (["file.txt"], ["there is no run at file.txt"]),
        (["bad-utf8-run"], ["not UTF-8"]),
        (["incomplete-run"], ["lacks"]),
        (["empty-run"], ["empty-run has no games yet; nothing to rate"]),
        (["corrupt-store-run"], ["games.sqlite"]),
        (["run", "self-run"], ["unexpected extra argument"]),
        ([], ["Missing argument 'run'"]),
    ],
    "study": [
        (["--crowd", "missing"], ["there is no run at missing"]),
        (["--crowd", "notes"], ["notes is not a crowdzero run"]),
        (["--crowd", "file.txt"], ["there is no run at file.txt"]),
        (["--crowd", "bad-utf8-run"], ["not UTF-8"]),
        (["--crowd", "self-run"], ["self-run is a self-mode run, not a crowd-mode one"]),
        (["--crowd", "run", "--self", "run"], ["run is a crowd-mode run, not a self-mode one"]),
        (["--crowd", "run", "--self", "missing"], ["there is no run at missing"]),
        (["--crowd", "run", "--self", "self-7x7"], ["different board sizes"]),
        (["--crowd", "empty-run"], ["empty-run has no usable checkpoint"]),
        (["--crowd", "run", "--games", "0"], ["--games must be at least 1, not 0"]),
        (["--crowd", "run", "--games", "-2"], ["--games must be at least 1, not -2"]),
        (["--crowd", "run", "--games", "lots"], ["--games", "valid integer"]),
        (["--crowd", "run", "--positions", "0"], ["--positions must be at least 1"]),
        (["--crowd", "run", "--concurrency", "0"], ["--concurrency must be at least 1"]),
        (["--crowd", "run", "--seed", "-1"], ["--seed must be 0 or more"]),
        (["--crowd", "run", "--minutes-imitation", "nan"], ["--minutes-imitation", "nan"]),
        (["--crowd", "run", "--minutes-imitation", "-1"], ["--minutes-imitation", "-1"]),
        (["--crowd", "run", "--minutes-imitation", "0"], ["--minutes-imitation", "0"]),
        (["--crowd", "run", "--out", "file.txt"], ["--out file.txt is a file"]),
        ([], ["--crowd"]),
    ],
    "study-curves": [
        (["missing"], ["missing is not a crowdzero run"]),
        (["notes"], ["notes is not a crowdzero run"]),
        (["bad-utf8-run"], ["not UTF-8"]),
        (["empty-run"], ["empty-run has no checkpoints or marks yet"]),
        (["self-run"], ["a self-play run alone has no crowd: give --crowd"]),
        (["run", "--crowd", "bad-crowd.toml"], ["bogus"]),
        (["run", "--imitation", "notes"], ["notes holds no imitation checkpoints"]),
        (["run", "--member-games", "missing.gz"], ["member games missing.gz is not a file"]),
        (["run", "--games", "0"], ["--games must be at least 1, not 0"]),
        (["run", "--every", "0"], ["--every must be at least 1, not 0"]),
        (["run", "--positions", "0"], ["--positions must be at least 1, not 0"]),
        (["run", "--x", "hours"], ["--x must be one of minutes, steps, cpu, not hours"]),
        (["run", "--points", "some"], ["--points must be one of all, marks, checkpoints"]),
        (["run", "--points", "marks"], ["run has no marks yet"]),
        (["run", "--out", "file.txt"], ["--out file.txt is a file"]),
        (["run", "--draw-only", "--out", "nothing"], ["nothing to draw"]),
        ([], ["name at least one run, or --imitation"]),
    ],
    "study-report": [
        (["missing"], ["missing/results.json does not exist"]),
        (["notes"], ["notes/results.json does not exist", "crowdzero study --out notes"]),
        (["garbled-study"], ["garbled-study/results.json", "not JSON"]),
        (["wrong-study"], ["wrong-study/results.json", "results.meta: expected an object"]),
        ([], ["Missing argument 'out'"]),
    ],
    "config": [
        (["missing"], ["there is no run at missing"]),
        (["notes"], ["notes is not a crowdzero run"]),
        (["file.txt"], ["there is no run at file.txt"]),
        (["bad-utf8-run"], ["not UTF-8", "0xff"]),
        (["incomplete-run"], ["lacks", "board.komi"]),
        (["run", "self-run"], ["unexpected extra argument"]),
    ],
    "export-sgf": [
        (["missing"], ["there is no run at missing"]),
        (["notes"], ["notes is not a crowdzero run"]),
        (["file.txt"], ["there is no run at file.txt"]),
        (["bad-utf8-run"], ["not UTF-8"]),
        (["empty-run"], ["empty-run has no games yet; nothing to export"]),
        (["corrupt-store-run"], ["games.sqlite"]),
        (["run", "--last", "-1"], ["--last must be 0 (all games) or more, not -1"]),
        (["run", "--last", "few"], ["--last", "valid integer"]),
        (["run", "--out", "file.txt"], ["--out file.txt is a file, not a folder"]),
        ([], ["Missing argument 'run'"]),
    ],
    "": [
        (["nosuch"], ["No such command 'nosuch'"]),
        (["--bogus"], ["--bogus"]),
    ],
}


@pytest.mark.parametrize(
    ("command", "args", "words"),
    [
        pytest.param(command, args, words, id=f"{command} {' '.join(args)}"[:60])
        for command, cases in CASES.items()
        for args, words in cases
    ],
)
def test_a_bad_argument_is_refused_in_one_line_and_changes_nothing(
    workspace: Path,
    busy_port: int,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    args: list[str],
    words: list[str],
) -> None:
    monkeypatch.chdir(workspace)
    args = [str(busy_port) if arg == "BUSY" else arg for arg in args]
    before = snapshot(workspace, skip=())
    line = refused_in_one_line([command, *args] if command else args)
    for word in words:
        assert word in line, line
    assert snapshot(workspace, skip=()) == before


def test_every_command_is_tried_with_bad_arguments() -> None:
    """A command added to the CLI must come with its bad-argument cases here."""
    import typer.main

    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert commands == set(CASES) - {""}


def test_the_workspace_runs_are_what_the_cases_assume(workspace: Path) -> None:
    """The good parts of each case are good: the refusal comes from the bad one."""
    for name in ("run", "self-run", "empty-run", "self-7x7"):
        RunDir.open(workspace / name)
    result = runner.invoke(app, ["ratings", str(workspace / "run")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["config", str(workspace / "run")])
    assert result.exit_code == 0 and "size = 5" in result.stdout

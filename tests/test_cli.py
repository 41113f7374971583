"""The command line: clear errors, and the commands a newcomer runs first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ray_cluster import PATIENT_RAY, start_cluster
from typer.testing import CliRunner

from crowdzero.cli import app
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import RunConfig, apply_overrides, loads_config
from crowdzero.train.run_dir import RunDir

runner = CliRunner()


def test_config_prints_a_documented_config_that_loads_back() -> None:
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0
    assert loads_config(result.stdout) == RunConfig()
    assert "# " in result.stdout  # every key carries its doc as a comment


def test_config_of_a_run_shows_its_values_and_the_defaults_they_replace(
    tmp_path: Path,
) -> None:
    """An older run's config.toml lacks keys added since; it is shown with the values it
    trained with, each marked with today's default."""
    run = RunDir.create(tmp_path / "r", apply_overrides(RunConfig(), {"search.simulations": 16}))
    text = run.config_path.read_text()
    run.config_path.write_text(text.replace("full_search_fraction = 0.25\n", ""))
    result = runner.invoke(app, ["config", str(run.path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "simulations = 16  # default: 64" in lines
    assert "full_search_fraction = 1.0  # default: 0.25" in lines
    assert "cheap_simulations = 8" in lines  # the default: no mark
    assert loads_config(result.stdout) == RunDir.open(run.path).config


def test_resuming_a_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "holds no run to resume" in result.output


def test_a_bad_override_names_the_key(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--run", str(tmp_path / "r"), "--set", "search.nope=1"])
    assert result.exit_code == 2
    assert "search.nope" in result.output


def test_a_locked_run_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", RunConfig())
    with run.lock():
        result = runner.invoke(app, ["train", "--run", str(run.path), "--minutes", "0.01"])
    assert result.exit_code == 2
    assert "in use by process" in result.output


def test_gtp_serves_the_default_random_player() -> None:
    result = runner.invoke(app, ["gtp"], input="name\nboardsize 5\ngenmove b\nquit\n")
    assert result.exit_code == 0
    replies = [r for r in result.stdout.split("\n\n") if r.strip()]
    assert replies[0] == "= crowdzero (random)"
    assert replies[2].startswith("= ")


def test_ratings_of_a_run_without_games_is_a_clear_error(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", RunConfig())
    result = runner.invoke(app, ["ratings", str(run.path)])
    assert result.exit_code == 2


def _tiny_run(path: Path, **extra: object) -> RunDir:
    from tiny_run import TINY_RUN

    return RunDir.create(path, apply_overrides(RunConfig(), {**TINY_RUN, **extra}))


@pytest.mark.timeout(300)
def test_train_with_no_run_continues_the_default_run_with_the_options_given(
    tmp_path: Path,
) -> None:
    """`crowdzero train` in a folder that holds runs/self-5x5 resumes it, and --minutes
    still applies (the run was started with a 10-minute budget)."""
    _tiny_run(tmp_path / "runs" / "self-5x5", **{"train.mode": "self", "train.minutes": 10.0})
    args = ["train", "--mode", "self", "--board-size", "5", "--quiet", "--minutes", "0.01"]
    result = subprocess.run(
        [sys.executable, "-m", "crowdzero.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    assert "time budget of 0.01 minutes reached" in result.stderr


@pytest.mark.timeout(300)
def test_train_games_stops_at_a_store_size_and_keeps_it_as_a_target_when_resumed(
    tmp_path: Path,
) -> None:
    """--games ends the run once its store holds that many games, however fast the
    machine is; resumed with the same number, a run that is there stops at once (the
    budget counts the store, not this session), and a bigger number plays on."""
    run = _tiny_run(tmp_path / "r", **{"train.mode": "self"})
    base = [sys.executable, "-m", "crowdzero.cli", "train", "--resume", str(run.path), "--quiet"]

    def train(games: int) -> tuple[str, int]:
        result = subprocess.run(
            [*base, "--games", str(games)], capture_output=True, text=True, timeout=240
        )
        assert result.returncode == 0, result.stderr
        with GameStore(run.games_path) as store:
            return result.stderr, store.count_games()

    errors, first = train(3)
    assert "3 games reached" in errors
    assert first >= 3  # the games in flight when the third ended are stored too
    errors, again = train(3)
    assert "3 games reached" in errors and again == first
    errors, more = train(first + 2)
    assert f"{first + 2} games reached" in errors and more >= first + 2


def test_resuming_refuses_to_change_what_the_run_is(tmp_path: Path) -> None:
    """A crowd run on 5x5 stays one: its checkpoints and stored games depend on it."""
    run = _tiny_run(tmp_path / "r", **{"train.mode": "crowd", "train.minutes": 0.01})
    result = runner.invoke(
        app, ["train", "--run", str(run.path), "--mode", "self", "--set", "board.size=7"]
    )
    assert result.exit_code == 2, result.output
    assert "train.mode" in result.output and "board.size" in result.output
    assert RunDir.open(run.path).config == run.config


def test_a_missing_crowd_file_is_a_clear_error_and_starts_no_run(tmp_path: Path) -> None:
    run = tmp_path / "r"
    result = runner.invoke(app, ["train", "--run", str(run), "--crowd", str(tmp_path / "no.toml")])
    assert result.exit_code == 2, result.output
    assert "cannot read crowd file" in result.output
    assert not run.exists()  # no run left behind with the unusable crowd in its config


def test_showing_or_exporting_a_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    for command in ("config", "export-sgf"):
        result = runner.invoke(app, [command, str(tmp_path / "nope")])
        assert result.exit_code == 2, (command, result.output)
        assert "there is no run" in result.output


def test_a_folder_that_holds_no_run_is_not_offered_for_resuming(tmp_path: Path) -> None:
    """`--resume` would fail on it too: the message must not send the user there."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("buy milk")
    result = runner.invoke(app, ["train", "--run", str(folder)])
    assert result.exit_code == 2, result.output
    assert "resume" not in result.output and "no crowdzero run" in result.output


@pytest.mark.timeout(300)
def test_a_relative_crowd_file_is_stored_absolute_and_resumes_from_anywhere(
    tmp_path: Path,
) -> None:
    """`--crowd crowd.toml` names a file in the folder the user is in; a resume from
    another folder (or the web server, or the study) must still find that file."""
    from tiny_run import TINY_CROWD, TINY_RUN

    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    (here / "crowd.toml").write_text(TINY_CROWD)
    sets = [a for k, v in TINY_RUN.items() if k != "board.size" for a in ("--set", f"{k}={v}")]
    common = ["--quiet", "--minutes", "0.01"]
    for cwd, args in (
        (here, ["--run", "../r", "--crowd", "crowd.toml", "--board-size", "5", *sets]),
        (elsewhere, ["--resume", "../r"]),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "crowdzero.cli", "train", *args, *common],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert result.returncode == 0, result.stderr
    stored = RunDir.open(tmp_path / "r").config.train.crowd
    assert stored == str((here / "crowd.toml").resolve())


def test_a_crowd_file_named_in_a_config_file_is_relative_to_that_file(tmp_path: Path) -> None:
    from crowdzero.cli import _new_config
    from crowdzero.train.config import dump_config

    folder = tmp_path / "experiment"
    folder.mkdir()
    cfg_path = folder / "config.toml"
    cfg_path.write_text(
        dump_config(RunConfig()).replace('crowd = "default"', 'crowd = "mine.toml"')
    )
    assert _new_config(cfg_path, None, {}).train.crowd == str((folder / "mine.toml").resolve())
    assert _new_config(None, None, {}).train.crowd == "default"


@pytest.mark.timeout(600)
def test_train_with_workers_plays_its_games_on_ray_and_stores_them_here(tmp_path: Path) -> None:
    """`crowdzero train --workers 1` as a user types it: Ray starts on this machine, the
    worker plays the games, the driver stores them with the weights step of every agent
    move, and the run ends cleanly at its time budget."""
    from tiny_run import TINY_CROWD

    from crowdzero.store.game_store import GameStore

    crowd = tmp_path / "crowd.toml"
    crowd.write_text(TINY_CROWD)
    run = _tiny_run(tmp_path / "r", **{"train.mode": "crowd", "train.crowd": str(crowd)})
    args = ["train", "--run", str(run.path), "--workers", "1", "--minutes", "0.75", "--quiet"]
    result = subprocess.run(
        [sys.executable, "-m", "crowdzero.cli", *args],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "time budget of 0.75 minutes reached" in result.stderr
    with GameStore(run.path / "games.sqlite") as store:
        games = [game for _, game in store.iter_games()]
    assert games, "the worker stored no game in the minute"
    agent_steps = {m.weights_step for g in games for m in g.moves if m.policy is not None}
    assert agent_steps and None not in agent_steps


@pytest.mark.timeout(600)
def test_workers_without_an_address_start_their_own_ray_beside_a_running_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No `--ray-address` means this machine only: a Ray cluster already running here
    (named by RAY_ADDRESS, as `ray start` users set it) is neither joined nor a reason to
    fail, where a bare `ray.init(num_cpus=...)` joins it and refuses the CPU count."""
    import ray

    from crowdzero.train.ray_workers import WorkerSettings, _connect

    assert not ray.is_initialized()
    for key, value in PATIENT_RAY.items():
        monkeypatch.setenv(key, os.environ.get(key, value))
    other = start_cluster(nodes=1)
    try:
        monkeypatch.setenv("RAY_ADDRESS", other.address)
        assert _connect(WorkerSettings(workers=3)) is True
        try:
            assert ray.get_runtime_context().gcs_address != other.address
            assert ray.cluster_resources()["CPU"] == max(os.cpu_count() or 1, 3)
        finally:
            ray.shutdown()
    finally:
        other.shutdown()


def test_workers_arguments_that_cannot_work_are_refused_in_one_line(tmp_path: Path) -> None:
    for args, message in (
        (["--workers", "0"], "--workers must be at least 1"),
        (["--ray-address", "auto"], "--ray-address needs --workers"),
    ):
        result = runner.invoke(app, ["train", "--run", str(tmp_path / "r"), *args])
        assert result.exit_code != 0
        assert message in result.output
    assert not (tmp_path / "r").exists()


def test_python_dash_m_crowdzero_is_the_crowdzero_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crowdzero", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout and "gtp" in result.stdout

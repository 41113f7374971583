"""The command line: clear errors, and the commands a newcomer runs first."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from crowdzero.cli import app
from crowdzero.train.config import RunConfig, loads_config
from crowdzero.train.run_dir import RunDir

runner = CliRunner()


def test_config_prints_a_documented_config_that_loads_back() -> None:
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0
    assert loads_config(result.stdout) == RunConfig()
    assert "# " in result.stdout  # every key carries its doc as a comment


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

"""The run directory: layout, resume, the exclusive lock, checkpoints and metrics."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
from pathlib import Path

import pytest

from crowdzero.store.game_store import GameStore
from crowdzero.train.config import RunConfig, apply_overrides, load_config
from crowdzero.train.run_dir import RunDir, RunDirError, RunLocked


@pytest.fixture
def config() -> RunConfig:
    return apply_overrides(RunConfig(), {"board.size": 7, "train.concurrent_games": 4})


def test_create_lays_out_the_run(tmp_path: Path, config: RunConfig) -> None:
    run = RunDir.create(tmp_path / "runs" / "first", config)
    assert run.path.is_dir() and run.checkpoints_dir.is_dir()
    assert load_config(run.config_path) == config
    assert run.config_path.read_text().lstrip().startswith("#")  # documents itself
    with run.open_store() as store:
        assert isinstance(store, GameStore)
    assert run.games_path.is_file()
    assert run.name == "first"
    assert run.metrics_path.parent == run.log_path.parent == run.path


def test_create_accepts_an_existing_empty_directory(tmp_path: Path, config: RunConfig) -> None:
    (tmp_path / "run").mkdir()
    assert RunDir.create(tmp_path / "run", config).config == config


def test_create_refuses_an_existing_run(tmp_path: Path, config: RunConfig) -> None:
    RunDir.create(tmp_path / "run", config)
    with pytest.raises(RunDirError, match="already holds a run"):
        RunDir.create(tmp_path / "run", RunConfig())


def test_create_with_resume_keeps_the_stored_config(tmp_path: Path, config: RunConfig) -> None:
    RunDir.create(tmp_path / "run", config)
    resumed = RunDir.create(tmp_path / "run", RunConfig(), resume=True)
    assert resumed.config == config


def test_open_reads_the_config_back(tmp_path: Path, config: RunConfig) -> None:
    RunDir.create(tmp_path / "run", config)
    assert RunDir.open(tmp_path / "run").config == config


def test_open_without_a_config_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(RunDirError, match=r"config.toml is missing"):
        RunDir.open(tmp_path / "run")
    with pytest.raises(RunDirError, match="there is no run"):
        RunDir.open(tmp_path / "elsewhere")


def test_open_with_a_broken_config_names_the_file(tmp_path: Path, config: RunConfig) -> None:
    run = RunDir.create(tmp_path / "run", config)
    run.config_path.write_text("[board]\nsize = 'big'\n")
    with pytest.raises(RunDirError, match=r"config.toml: board.size must be an integer"):
        RunDir.open(run.path)


def test_a_second_lock_on_the_same_run_is_refused(tmp_path: Path, config: RunConfig) -> None:
    run = RunDir.create(tmp_path / "run", config)
    with run.lock() as held:
        assert held.held
        with pytest.raises(RunLocked, match=f"process {os.getpid()}"):
            RunDir.open(run.path).lock()
    # Released on leaving the block: the next trainer can take it.
    again = run.lock()
    again.release()
    assert not again.held


def _hold_lock(path: str, ready: multiprocessing.synchronize.Event) -> None:
    lock = RunDir.open(path).lock()
    assert lock.held
    ready.set()
    signal.pause()


def test_a_killed_trainers_lock_is_released(tmp_path: Path, config: RunConfig) -> None:
    run = RunDir.create(tmp_path / "run", config)
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(str(run.path), ready))
    child.start()
    try:
        assert ready.wait(60)
        with pytest.raises(RunLocked, match=f"process {child.pid}"):
            run.lock()
    finally:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    with run.lock() as lock:
        assert lock.held


def test_checkpoint_paths_are_numbered_by_step(tmp_path: Path, config: RunConfig) -> None:
    run = RunDir.create(tmp_path / "run", config)
    assert run.checkpoint_path(1234) == run.checkpoints_dir / "ckpt-00001234.pt"
    assert RunDir.checkpoint_step(run.checkpoint_path(1234)) == 1234
    with pytest.raises(ValueError):
        run.checkpoint_path(-1)


def test_latest_checkpoint_skips_temp_files_and_strangers(
    tmp_path: Path, config: RunConfig
) -> None:
    run = RunDir.create(tmp_path / "run", config)
    assert run.latest_checkpoint_path() is None
    for step in (500, 99_999_999, 100_000_000, 20):
        run.checkpoint_path(step).write_bytes(b"x")
    for name in (
        ".ckpt-200000000.pt.k2j3.tmp",  # what an atomic write leaves while in flight
        "ckpt-300000000.pt.tmp",
        "ckpt-400000000.pth",
        "notes.txt",
    ):
        (run.checkpoints_dir / name).write_bytes(b"x")
    (run.checkpoints_dir / "ckpt-900000000.pt").mkdir()
    assert run.latest_checkpoint_path() == run.checkpoint_path(100_000_000)
    assert [RunDir.checkpoint_step(p) for p in run.checkpoint_paths()] == [
        100_000_000,
        99_999_999,
        500,
        20,
    ]


def test_metrics_header_is_written_once(tmp_path: Path, config: RunConfig) -> None:
    run = RunDir.create(tmp_path / "run", config)
    run.append_metrics({"step": 1, "loss": 2.5, "games": 10})
    run.append_metrics({"step": 2, "loss": 2.25})  # a missing column is an empty cell
    RunDir.open(run.path).append_metrics({"step": 3, "loss": 2.0, "games": 30})  # resumed
    lines = run.metrics_path.read_text().splitlines()
    assert lines == ["step,loss,games", "1,2.5,10", "2,2.25,", "3,2.0,30"]
    assert run.read_metrics()[2] == {"step": "3", "loss": "2.0", "games": "30"}


def test_a_new_metric_widens_the_file_and_keeps_every_old_row(
    tmp_path: Path, config: RunConfig
) -> None:
    """A run made by a version that logged fewer metrics resumes with the new ones."""
    run = RunDir.create(tmp_path / "run", config)
    run.append_metrics({"step": 1})
    RunDir.open(run.path).append_metrics({"step": 2, "elo": 100})
    assert run.metrics_path.read_text() == "step,elo\n1,\n2,100\n"
    assert run.read_metrics() == [{"step": "1", "elo": ""}, {"step": "2", "elo": "100"}]


def test_a_line_cut_by_a_crash_is_dropped_on_resume(tmp_path: Path, config: RunConfig) -> None:
    run = RunDir.create(tmp_path / "run", config)
    run.append_metrics({"step": 1, "loss": 3.0})
    with run.metrics_path.open("a") as f:
        f.write("2,2.")  # the trainer died mid-write
    RunDir.open(run.path).append_metrics({"step": 3, "loss": 1.0})
    assert run.metrics_path.read_text() == "step,loss\n1,3.0\n3,1.0\n"


def test_metrics_values_with_commas_are_quoted(tmp_path: Path, config: RunConfig) -> None:
    run = RunDir.create(tmp_path / "run", config)
    run.append_metrics({"step": 1, "note": "crowd: random, gnugo:1"})
    assert run.read_metrics() == [{"step": "1", "note": "crowd: random, gnugo:1"}]


def test_a_run_from_before_the_new_keys_resumes_as_it_trained(tmp_path: Path) -> None:
    """The 9x9 crowd run of the first study was made before the learner's new keys: it
    opens with the values it trained with (not the new defaults), and its checkpoint
    loads into a training run whose window builds that network's planes."""
    from crowdzero.train.training_run import TrainingRun

    shipped = Path(__file__).parent.parent / "docs/results/crowd-9x9"
    run_path = tmp_path / "old"
    (run_path / "checkpoints").mkdir(parents=True)
    (run_path / "config.toml").write_text((shipped / "config.toml").read_text())
    checkpoint = run_path / "checkpoints" / "ckpt-00001674.pt"
    checkpoint.write_bytes((shipped / "final-ckpt-00001674.pt").read_bytes())
    run = RunDir.open(run_path)
    cfg = run.config
    assert not cfg.net.liberty_features and not cfg.net.score_head
    assert cfg.search.full_search_fraction == 1.0 and cfg.search.resign_threshold == -1.0
    assert cfg.search.gumbel_c_scale == 1.0  # written in the old file: kept
    assert not cfg.train.value_on_all_positions and not cfg.train.learner_thread
    assert cfg.train.refresh_every == cfg.train.checkpoint_every == 100
    training = TrainingRun(run)
    try:
        assert training.learner.step == 1674
        assert training.replay.feature_spec == cfg.net.features
        assert training.replay.feature_spec.planes == 9
    finally:
        training.close()


def test_a_config_missing_a_key_that_is_not_new_is_still_refused(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", RunConfig())
    text = run.config_path.read_text()
    run.config_path.write_text(text.replace("batch_size = 256\n", ""))
    with pytest.raises(RunDirError, match="batch_size"):
        RunDir.open(run.path)


def test_trained_time_counts_every_session_and_reads_older_runs_by_elapsed_time(
    tmp_path: Path, config: RunConfig
) -> None:
    run = RunDir.create(tmp_path / "run", config)
    assert run.trained_seconds() == 0.0
    run.append_metrics({"step": 1, "elapsed_s": 50.0})  # a run from before wall_s
    assert run.trained_seconds() == 50.0
    run.append_metrics({"step": 2, "elapsed_s": 10.0, "wall_s": 60.0})  # a resumed session
    assert run.trained_seconds() == 60.0


COMMITTED_CONFIGS = sorted(Path(__file__).parents[1].glob("docs/results/**/config.toml"))


@pytest.mark.parametrize(
    "config", COMMITTED_CONFIGS, ids=lambda p: str(p.parent.relative_to(p.parents[2]))
)
def test_every_committed_run_config_still_opens(config: Path, tmp_path: Path) -> None:
    """The shipped runs were made by older crowdzeros: a key added since must come with
    the value those runs used (config.INTRODUCED), or `pack_run.py unpack` and every
    resume of them would be refused."""
    shutil.copy(config, tmp_path / "config.toml")
    opened = RunDir.open(tmp_path).config
    assert opened.board.size >= 5


def test_committed_run_configs_are_found() -> None:
    assert len(COMMITTED_CONFIGS) >= 4

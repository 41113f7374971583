"""The directory of one training run: everything needed to inspect or resume it.

Layout::

    runs/NAME/
        config.toml        the RunConfig, every key commented (written once, at create)
        games.sqlite       the GameStore (+ its -wal / -shm files while open)
        checkpoints/       ckpt-00001234.pt, one per checkpoint step
        metrics.csv        one row per report, header written once, append-only
        train.log          the trainer's log
        lock               held (flock) by the trainer using the run

The lock is an advisory ``flock`` on an open file: the kernel releases it when the
process exits however it exits (kill -9 included), so a crashed trainer never leaves a
stale lock behind, while a second trainer on the same run is refused at once.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import io
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from crowdzero.net.checkpoint import CHECKPOINT_RE, checkpoint_files
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import (
    DERIVED,
    ConfigError,
    RunConfig,
    config_from_dict,
    dump_config,
    load_config,
    with_introduced_keys,
)

PathLike = str | os.PathLike[str]

CONFIG_NAME = "config.toml"
GAMES_NAME = "games.sqlite"
CHECKPOINTS_NAME = "checkpoints"
METRICS_NAME = "metrics.csv"
LOG_NAME = "train.log"
LOCK_NAME = "lock"


class RunDirError(Exception):
    """A run directory is missing, incomplete, or cannot be used as asked."""


class RunLocked(RunDirError):
    """Another process holds the run's lock."""


class IncompleteConfig(RunDirError):
    """A run's config.toml lacks keys: read as defaults, they would change the run."""


class NoUsableCheckpoint(RunDirError):
    """The run has checkpoints (on disk or in its store) but none loads; resuming would
    silently start the network over at step 0."""


class RunLock:
    """An exclusive flock on ``runs/NAME/lock``; release() or leave the `with` block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(
                f"{path.parent} is in use by process {holder}; two trainers cannot share a run"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class RunDir:
    """Paths and small file operations of one run; build with `create` or `open`."""

    def __init__(self, path: PathLike, config: RunConfig) -> None:
        self.path = Path(path)
        self.config = config
        self._metric_columns: list[str] | None = None

    # -- construction --------------------------------------------------------------

    @classmethod
    def create(cls, path: PathLike, config: RunConfig, *, resume: bool = False) -> RunDir:
        """Start a new run in `path` (missing or empty), writing its config.toml.

        An existing run is refused unless `resume`, in which case it is opened and its
        stored config is kept (`config` is ignored: the run's settings do not drift).
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunDirError(f"{path} exists and is not a directory")
        if path.is_dir() and any(path.iterdir()):
            if resume:
                return cls.open(path)
            if not (path / CONFIG_NAME).is_file():
                raise RunDirError(
                    f"{path} is not empty and holds no crowdzero run (no {CONFIG_NAME}); "
                    "choose a new or empty folder"
                )
            raise RunDirError(f"{path} already holds a run; resume it or choose another run name")
        path.mkdir(parents=True, exist_ok=True)
        (path / CHECKPOINTS_NAME).mkdir(exist_ok=True)
        _write_atomic(path / CONFIG_NAME, dump_config(config))
        return cls(path, config)

    @classmethod
    def open(cls, path: PathLike) -> RunDir:
        """An existing run (for resuming or inspecting), with the config it was started with."""
        path = Path(path)
        config_path = path / CONFIG_NAME
        if not path.is_dir():
            raise RunDirError(f"there is no run at {path}")
        if not config_path.is_file():
            raise RunDirError(
                f"{path} is not a crowdzero run: {CONFIG_NAME} is missing "
                "(was it created with RunDir.create?)"
            )
        try:
            config = load_config(config_path)
            config = _complete(config_path, config)
        except ConfigError as e:
            raise RunDirError(f"cannot resume {path}: {e}") from e
        # A read-only run can still be inspected; writing a checkpoint will say why not.
        with contextlib.suppress(OSError):
            (path / CHECKPOINTS_NAME).mkdir(exist_ok=True)
        return cls(path, config)

    # -- paths ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def games_path(self) -> Path:
        return self.path / GAMES_NAME

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS_NAME

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_NAME

    @property
    def log_path(self) -> Path:
        return self.path / LOG_NAME

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_NAME

    def open_store(self) -> GameStore:
        """The run's game store (created on first use)."""
        return GameStore(self.games_path)

    def lock(self) -> RunLock:
        """Take the run's exclusive lock; raises RunLocked if another process has it."""
        return RunLock(self.lock_path)

    # -- checkpoints ---------------------------------------------------------------

    def checkpoint_path(self, step: int) -> Path:
        """Where the checkpoint of training step `step` goes: checkpoints/ckpt-00001234.pt."""
        if step < 0:
            raise ValueError(f"a checkpoint step cannot be negative ({step})")
        return self.checkpoints_dir / f"ckpt-{step:08d}.pt"

    def checkpoint_paths(self) -> list[Path]:
        """Checkpoint files by step, newest first (so a loader can fall back to older ones)."""
        return checkpoint_files(self.checkpoints_dir)

    def latest_checkpoint_path(self) -> Path | None:
        """The checkpoint with the highest step, None before the first."""
        paths = self.checkpoint_paths()
        return paths[0] if paths else None

    @staticmethod
    def checkpoint_step(path: PathLike) -> int:
        """The step in a checkpoint file name (ValueError for other names)."""
        match = CHECKPOINT_RE.fullmatch(Path(path).name)
        if match is None:
            raise ValueError(f"{path} is not named like a checkpoint (ckpt-00001234.pt)")
        return int(match.group(1))

    # -- metrics -------------------------------------------------------------------

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one row to metrics.csv; the first row written fixes the columns.

        A later row may leave columns out (empty cells) but may not add new ones: a
        CSV's header cannot grow, so a new metric means a new run. A last line cut
        short by a crash is dropped before appending.
        """
        columns = self._columns()
        if columns is None:
            columns = list(row)
            self._write_metrics_line(columns)
            self._metric_columns = columns
        unknown = [str(key) for key in row if key not in columns]
        if unknown:
            columns = self._widen_metrics(columns, unknown)
        self._write_metrics_line([row.get(c, "") for c in columns])

    def _widen_metrics(self, columns: list[str], new: list[str]) -> list[str]:
        """Rewrite metrics.csv with `new` columns appended (empty in the old rows): a run
        made by an older version that logged fewer metrics resumes with the new ones. The
        file is replaced atomically, so a crash leaves the old or the new one."""
        rows = self.read_metrics()
        widened = columns + new
        tmp = self.metrics_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(widened)
            for old in rows:
                writer.writerow([old.get(c, "") for c in widened])
        os.replace(tmp, self.metrics_path)
        self._metric_columns = widened
        return widened

    def trained_seconds(self) -> float:
        """Wall time the run has trained over all its sessions so far: the last metrics
        row's wall_s (runs from before that column: its elapsed_s, which counts the last
        session only); 0 before the first row."""
        for row in reversed(self.read_metrics()):
            for column in ("wall_s", "elapsed_s"):
                try:
                    return float(row.get(column) or "")
                except ValueError:
                    continue
        return 0.0

    def read_metrics(self) -> list[dict[str, str]]:
        """Every metrics row as strings (for reports and tests)."""
        if not self.metrics_path.exists():
            return []
        with self.metrics_path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def _columns(self) -> list[str] | None:
        if self._metric_columns is not None:
            return self._metric_columns
        if not self.metrics_path.exists() or self.metrics_path.stat().st_size == 0:
            return None
        _drop_partial_line(self.metrics_path)
        with self.metrics_path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), None)
        if not header:
            return None
        self._metric_columns = header
        return header

    def _write_metrics_line(self, values: list[Any]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        # One write() of the whole line on an O_APPEND file: a crash leaves whole lines
        # plus at most one partial last line, which _drop_partial_line removes.
        with self.metrics_path.open("a", newline="", encoding="utf-8") as f:
            f.write(buffer.getvalue())

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


def _complete(config_path: Path, config: RunConfig) -> RunConfig:
    """The run's config with keys newer than the run read as the run trained
    (`INTRODUCED`); IncompleteConfig if any other key is missing (keys that may be unset,
    and derived ones, excepted). `RunDir.create` writes every key; a file that lacks some
    was cut short or emptied, and its defaults are not the run's settings."""
    data = tomllib.loads(config_path.read_text(encoding="utf-8"))  # load_config read it
    missing = _missing_keys(data, RunConfig, "")
    if not missing:
        return config
    data, missing = with_introduced_keys(data, missing)
    if not missing:
        return config_from_dict(data, str(config_path))
    shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
    raise IncompleteConfig(
        f"{config_path} lacks {shown}: a run's config must set every key, or resuming would "
        "quietly change the run to the defaults. Restore the file if it was cut short; if "
        "the keys are new in this crowdzero, add them with the values the run used "
        "(`crowdzero config` prints every key and its default); or start a new run"
    )


def _missing_keys(data: Mapping[str, Any], cls: type, prefix: str) -> list[str]:
    hints = typing.get_type_hints(cls)
    missing = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        hint = hints[f.name]
        if not f.init or key in DERIVED:
            continue
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            table = data.get(f.name)
            missing += _missing_keys(table if isinstance(table, Mapping) else {}, hint, key)
        elif f.name not in data and not _may_be_unset(hint):
            missing.append(key)
    return missing


def _may_be_unset(hint: Any) -> bool:
    """Whether a field may be None, which config.toml writes as a comment, not a key."""
    return hint is Any or (
        typing.get_origin(hint) in (typing.Union, types.UnionType)
        and type(None) in typing.get_args(hint)
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _drop_partial_line(path: Path) -> None:
    """Cut a last line left without its newline (the writer died mid-line)."""
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        tail_start = max(0, size - 65536)
        f.seek(tail_start)
        tail = f.read()
        if tail and not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            f.truncate(tail_start + cut + 1 if cut >= 0 else tail_start)

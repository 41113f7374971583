"""A frozen network checkpoint as a player: `checkpoint:PATH` or `checkpoint:RUN_DIR`.

Used in three places: `crowdzero gtp --player checkpoint:...` (play the agent in Sabaki
or GoGui), frozen crowd members, and evaluation. A run directory means its newest
checkpoint that loads. The search settings are the run's own when the checkpoint sits
in a run directory (so the agent plays as it trained, minus the exploration noise),
otherwise the defaults; `@SIMS` overrides the simulation count:
`checkpoint:runs/crowd-9x9@200`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from crowdzero.net.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    newest_loadable_checkpoint,
)
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.players.agent import AgentPlayer
from crowdzero.players.registry import PlayerSpecError
from crowdzero.search.config import SearchConfig


def _split_simulations(argument: str) -> tuple[str, int | None]:
    path, at, sims = argument.rpartition("@")
    if at and sims.isdigit():
        return path, int(sims)
    return argument, None


def _run_search_config(checkpoint: Path) -> SearchConfig:
    """The search settings of the run the checkpoint belongs to, if it belongs to one."""
    from crowdzero.train.config import ConfigError, load_config

    config_path = checkpoint.parent.parent / "config.toml"
    if checkpoint.parent.name == "checkpoints" and config_path.is_file():
        try:
            return load_config(config_path).search
        except ConfigError:
            pass
    return SearchConfig()


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file, or a run directory's newest checkpoint that loads."""
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        found = newest_loadable_checkpoint(folder)
        if found is None:
            raise PlayerSpecError(f"{path} holds no usable checkpoint")
        return found.path
    return path


class CheckpointPlayer(AgentPlayer):
    """An `AgentPlayer` whose network came from a checkpoint: it plays only the board
    size the network was trained for."""

    def __init__(self, *args: Any, board_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.board_size = board_size

    def supports_size(self, size: int) -> bool:
        return size == self.board_size


def load_checkpoint_spec(argument: str | None, board_size: int | None = None) -> Checkpoint:
    """The checkpoint a ``checkpoint:`` argument names, loaded and checked (for
    `board_size` when given); PlayerSpecError saying what is wrong."""
    if not argument:
        raise PlayerSpecError("checkpoint needs a path: checkpoint:runs/NAME or checkpoint:FILE.pt")
    text, _ = _split_simulations(argument)
    path = resolve_checkpoint(Path(text))
    try:
        return load_checkpoint(path, board_size=board_size)
    except CheckpointError as exc:
        raise PlayerSpecError(str(exc)) from exc


def checkpoint_player(argument: str | None, *, threads: int | None = 2) -> CheckpointPlayer:
    """The network in a checkpoint behind a noise-free search."""
    checkpoint = load_checkpoint_spec(argument)
    path = checkpoint.path
    _, simulations = _split_simulations(argument or "")
    config = _run_search_config(path)
    if simulations is not None:
        config = dataclasses.replace(config, simulations=simulations)
    run = path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
    return CheckpointPlayer(
        TorchEvaluator(checkpoint.build_model(), threads=threads),
        config,
        name=f"net:{run}@{checkpoint.step}",
        add_noise=False,
        board_size=checkpoint.config.board_size,
    )

"""A frozen network checkpoint as a player: `checkpoint:PATH` or `checkpoint:RUN_DIR`.

Used in three places: `crowdzero gtp --player checkpoint:...` (play the agent in Sabaki
or GoGui), frozen crowd members, and evaluation. A run directory means its newest
checkpoint that loads. The search settings are the ones the checkpoint records from its
run (so the agent plays as it trained, minus the exploration noise, wherever the file
was copied), or the defaults for files that record none; `@SIMS` overrides the simulation count:
`checkpoint:runs/crowd-9x9@200`.
"""

from __future__ import annotations

import dataclasses
import logging
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
from crowdzero.players.spec import PlayerSpecError
from crowdzero.search.config import SearchConfig

log = logging.getLogger(__name__)


def _split_simulations(argument: str) -> tuple[str, int | None]:
    path, at, sims = argument.rpartition("@")
    if at and sims.isdigit():
        return path, int(sims)
    return argument, None


def _search_config(checkpoint: Checkpoint) -> SearchConfig:
    """The search settings the checkpoint's run trained with, as its metadata records
    them; defaults for files that record none (written before they did) or that record
    settings this version cannot use (said in the log, never silently)."""
    recorded = checkpoint.metadata.get("search")
    if not isinstance(recorded, dict):
        return SearchConfig()
    known = {f.name for f in dataclasses.fields(SearchConfig)}
    unknown = sorted(set(recorded) - known)
    if unknown:
        log.warning("%s: ignoring search settings this version lacks: %s", checkpoint.path, unknown)
    try:
        return SearchConfig(**{k: v for k, v in recorded.items() if k in known})
    except (TypeError, ValueError) as exc:
        log.warning(
            "%s: recorded search settings unusable (%s); using defaults", checkpoint.path, exc
        )
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
    config = _search_config(checkpoint)
    if simulations is not None:
        config = dataclasses.replace(config, simulations=simulations)
    run = str(checkpoint.metadata.get("run") or path.stem)
    return CheckpointPlayer(
        TorchEvaluator(checkpoint.build_model(), threads=threads),
        config,
        name=f"net:{run}@{checkpoint.step}",
        add_noise=False,
        board_size=checkpoint.config.board_size,
    )

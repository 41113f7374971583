"""Checkpoint files: network weights, optimizer state, step, config and metadata.

A checkpoint is a ``torch.save`` of a dict holding only plain types (dicts, lists, tuples,
str, int, float, bool, None and tensors), so it loads with ``torch.load(weights_only=True)``:
reading a checkpoint can never run code, and no class has to keep its import path forever.

Layout (FORMAT_VERSION 1)::

    {"format": "crowdzero-checkpoint", "format_version": 1,
     "config": NetConfig.to_dict(), "model": state_dict, "weights_sha256": str,
     "optimizer": state_dict | None, "step": int, "metadata": {...}, "torch_version": str,
     "input_planes": int}

``input_planes`` (written since advice planes exist; absent in older files) is the number
of feature planes the net reads. A file whose count disagrees with its config is refused;
``expect_planes`` lets a caller that builds planes for a given spec (a run resuming with
advice on) refuse a net that reads another count, with a message saying which.

``config`` may lack keys added to `NetConfig` later (the liberty planes, global pooling,
the score and opponent-reply heads): `NetConfig.from_dict` reads a missing one as off, which
is what the net that wrote the file had, so old checkpoints load and answer as before.

The zip container torch writes does not verify its CRCs on reading, so a flipped byte inside
the weights would load silently; ``weights_sha256`` catches that.

Writes are atomic (temp file in the same directory, fsync, ``os.replace``), so a reader such
as the match runner polling for new weights sees the old file or the new one, never half.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from crowdzero.net.model import LEGACY_DEFAULTS, NetConfig, PolicyValueNet

FORMAT_NAME = "crowdzero-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "config", "model", "weights_sha256", "step", "metadata")

PathLike = str | os.PathLike[str]

#: Checkpoint files by name only; temporary files (".ckpt-....pt.XXXX.tmp") never match.
CHECKPOINT_RE = re.compile(r"ckpt-(\d{8,})\.pt")

log = logging.getLogger(__name__)


class CheckpointError(Exception):
    """A checkpoint cannot be written or used; the message says which file and why."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint. ``build_model`` gives a fresh net each call (no shared state)."""

    path: Path
    config: NetConfig
    model_state: Mapping[str, torch.Tensor]
    step: int
    metadata: Mapping[str, Any] = field(default_factory=dict)
    optimizer_state: Mapping[str, Any] | None = None
    format_version: int = FORMAT_VERSION

    def build_model(self, device: str | torch.device = "cpu") -> PolicyValueNet:
        """A PolicyValueNet with these weights, in eval mode (call ``.train()`` to learn)."""
        net = PolicyValueNet(self.config)
        net.load_state_dict(dict(self.model_state))
        return net.to(device).eval()


_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Reject anything ``weights_only`` loading would refuse, before a file is touched."""
    # Exact types: a numpy float is a float subclass that weights_only loading refuses.
    if type(value) in _PLAIN_SCALARS or isinstance(value, torch.Tensor):
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) not in (str, int):
                raise CheckpointError(f"{where} has a key of type {type(key).__name__}: {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise CheckpointError(
        f"{where} is a {type(value).__name__}; checkpoints hold only plain values "
        "(str, int, float, bool, None, lists, dicts, tensors)"
    )


def save_checkpoint(
    path: PathLike,
    model: PolicyValueNet,
    *,
    step: int,
    optimizer: torch.optim.Optimizer | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (and optionally ``optimizer``) to ``path`` atomically; returns the path.

    ``metadata`` is free-form plain data (run name, mode, games seen...). The parent
    directory is created if needed. An existing file at ``path`` is replaced only once the
    new one is completely on disk.
    """
    path = Path(path)
    # A torch.compile wrapper prefixes every weight name; save the module it wraps.
    model = getattr(model, "_orig_mod", model)
    if model.inference_only:
        raise CheckpointError(
            "this net has its batch norms folded in (PolicyValueNet.fused); save the "
            "original net instead"
        )
    meta = dict(metadata or {})
    _check_plain(meta, "metadata")
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "model": weights,
        "weights_sha256": weights_digest(weights),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "step": int(step),
        "metadata": meta,
        "torch_version": str(torch.__version__),  # TorchVersion is a str subclass
        "input_planes": model.config.input_planes,
    }
    _check_plain(payload["optimizer"], "optimizer state")
    _check_plain(payload, "checkpoint")

    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its file is 0600 whatever the umask, so a run's checkpoints could not
    # be read by another user (a worker machine's account, a colleague, a web server).
    tmp_name = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def weights_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_payload(path: Path) -> Any:
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only names a class it refused as "Unsupported global"; any other
        # unpickling failure means the bytes are not a pickle at all.
        if "unsupported global" in str(e).lower():
            raise CheckpointError(
                f"{path} contains pickled Python objects, which crowdzero checkpoints never "
                "hold; refusing to load it (it was not written by save_checkpoint)"
            ) from e
        raise CheckpointError(
            f"{path} is truncated or corrupt (not a readable PyTorch file)"
        ) from e
    except Exception as e:  # torch raises many types for bad bytes; all mean the same here
        size = path.stat().st_size
        raise CheckpointError(
            f"{path} is truncated or corrupt ({size} bytes, not a readable PyTorch file): "
            f"{_first_line(e)}"
        ) from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def load_checkpoint(
    path: PathLike, board_size: int | None = None, *, expect_planes: int | None = None
) -> Checkpoint:
    """Read and validate a checkpoint; raises CheckpointError saying what is wrong.

    ``board_size``, when given, is the size of the run that wants the net; a checkpoint for
    another size is refused. ``expect_planes``, when given, is the number of input planes
    the caller will build; a net reading another number (advice planes on one side and
    not the other) is refused. The weights are checked against the stored config by building
    the net once, so a Checkpoint that loads is one that ``build_model`` can use.
    """
    path = Path(path)
    payload = _read_payload(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a crowdzero checkpoint (no '{FORMAT_NAME}' marker)"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this crowdzero reads version "
            f"{FORMAT_VERSION}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{path} is missing required keys: {', '.join(missing)}")

    raw_config = payload["config"]
    if not isinstance(raw_config, dict):
        raise CheckpointError(f"{path} has a config of type {type(raw_config).__name__}")
    try:
        config = NetConfig.from_dict(raw_config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has an invalid network config: {e}") from e

    if board_size is not None and board_size != config.board_size:
        n = config.board_size
        raise CheckpointError(
            f"checkpoint {path} is for {n}x{n}, this run is {board_size}x{board_size}"
        )

    if expect_planes is not None and expect_planes != config.input_planes:
        raise CheckpointError(
            f"checkpoint {path} reads {config.input_planes} input planes "
            f"({config.features.describe()}); this run builds {expect_planes}. Advice planes "
            "(net.advice_planes) must be the same in the run and its checkpoints"
        )

    step = payload["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{path} has an invalid step {step!r}")
    metadata = payload["metadata"]
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path} has metadata of type {type(metadata).__name__}")
    optimizer_state = payload.get("optimizer")
    if optimizer_state is not None and not isinstance(optimizer_state, dict):
        raise CheckpointError(f"{path} has optimizer state of type {type(optimizer_state)}")

    model_state = payload["model"]
    if not isinstance(model_state, dict):
        raise CheckpointError(f"{path} has model weights of type {type(model_state).__name__}")
    bad = [
        k
        for k, v in model_state.items()
        if not isinstance(k, str) or not isinstance(v, torch.Tensor)
    ]
    if bad:
        raise CheckpointError(f"{path} has model weights that are not tensors: {bad[:5]}")
    if weights_digest(model_state) != payload["weights_sha256"]:
        raise CheckpointError(
            f"{path} is corrupt: its weights do not match the checksum written with them"
        )
    checkpoint = Checkpoint(
        path=path,
        config=config,
        model_state=model_state,
        step=step,
        metadata=metadata,
        optimizer_state=optimizer_state,
        format_version=version,
    )
    try:
        checkpoint.build_model()
    except RuntimeError as e:
        switches = ", ".join(
            f"{name.replace('_', ' ')} {'on' if getattr(config, name) else 'off'}"
            for name in ("ownership_head", *LEGACY_DEFAULTS)
        )
        raise CheckpointError(
            f"{path}: the weights do not match its config ({config.describe()}, {switches}): "
            f"{_summarise(e)}"
        ) from e
    planes = payload.get("input_planes", config.input_planes)
    if planes != config.input_planes:
        raise CheckpointError(
            f"{path} records {planes!r} input planes but its config reads "
            f"{config.input_planes} ({config.features.describe()})"
        )
    return checkpoint


def _summarise(e: RuntimeError) -> str:
    """load_state_dict lists every bad key; keep the first few lines a person can read."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    body = lines[1:] if len(lines) > 1 else lines
    text = " ".join(body)
    return text if len(text) <= 400 else text[:400] + "..."


def checkpoint_files(folder: PathLike) -> list[Path]:
    """The checkpoint files in `folder` by the step in their names, newest first (so a
    loader can fall back to older ones); [] when the folder does not exist.

    Chosen by name only: validating the contents is `load_checkpoint`'s job.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = CHECKPOINT_RE.fullmatch(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry))
    return [entry for _, entry in sorted(found, reverse=True)]


def newest_loadable_checkpoint(
    folder: PathLike,
    *,
    board_size: int | None = None,
    expect_planes: int | None = None,
    accept: Callable[[Checkpoint], bool] | None = None,
    on_unusable: Callable[[Path, str], None] | None = None,
) -> Checkpoint | None:
    """The newest checkpoint in `folder` that loads (and that `accept` takes), or None.

    The one place that decides "which weights does this run have": a corrupt or
    half-copied newest file falls back to the one before it, as training, the web page,
    `checkpoint:RUN` players and the study's agents all need. Each file that does not
    load is reported to `on_unusable` (path, reason) and logged once here.
    """
    for path in checkpoint_files(folder):
        try:
            checkpoint = load_checkpoint(path, board_size=board_size, expect_planes=expect_planes)
        except CheckpointError as exc:
            log.warning("skipping unusable checkpoint: %s", exc)
            if on_unusable is not None:
                on_unusable(path, str(exc))
            continue
        if accept is None or accept(checkpoint):
            return checkpoint
    return None

"""What a folder holds, to check that a refused command changed nothing on disk."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

#: Stands for a directory in a snapshot (a file's value is its bytes).
DIRECTORY = b"<directory>"


def snapshot(folder: Path, skip: Collection[str] = ("train.log", "lock")) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, and every directory, by relative path;
    files and directories named in `skip` are left out."""
    return {
        str(path.relative_to(folder)): DIRECTORY if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.name not in skip and (path.is_dir() or path.is_file())
    }

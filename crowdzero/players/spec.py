"""Player specs: the ``kind[:argument]`` text that names a player, and its error.

Kept apart from the registry so that the modules a kind lazily imports (a checkpoint
player, an engine pool) can raise the registry's error without importing the registry
back.
"""

from __future__ import annotations


class PlayerSpecError(ValueError):
    """A player spec that names no registered kind or has a bad argument."""


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"gnugo:5"`` -> ``("gnugo", "5")``; ``"random"`` -> ``("random", None)``.

    An empty argument (``"gnugo:"``) is "" rather than None, so a kind can tell a
    forgotten value from no value.
    """
    kind, colon, argument = spec.strip().partition(":")
    return kind, argument if colon else None

"""The exceptions of the Go package: one type per kind of failure.

Each message is written for a person (a GTP controller, a web player, a test log), so it
names the point in GTP form and the rule that was broken.
"""

from __future__ import annotations


class IllegalMove(ValueError):
    """A move the rules forbid: "C3 is occupied", "D4 is suicide", "E5 retakes the ko",
    "E5 repeats an earlier position (positional superko)", "the game is over"."""


class CoordinateError(ValueError):
    """Text or an index that names no point on the board ("Z9", "I3", "D0", 81 on 9x9)."""


class SgfError(ValueError):
    """An SGF file that cannot be read as a Go game."""

"""When the agent gives up: the resignation rule, as one pure function.

The agent resigns once its root value (its own view, in [-1, 1]) has been below a
threshold for a number of its own moves in a row (AlphaZero, KataGo). The same function
serves the agent, which asks it after every move, and the statistics, which replay the
stored root values of games played without resignation to count how often the rule would
have resigned a game the agent then won (the false-resignation rate that sets the
threshold).
"""

from __future__ import annotations

from collections.abc import Sequence


def would_resign_at(root_values: Sequence[float], threshold: float, consecutive: int) -> int | None:
    """The index into ``root_values`` of the move at which the rule first fires, or None.

    ``root_values`` are one player's root values in a game, in the order of that player's
    moves (its view, in [-1, 1]). The rule fires at move i when moves i - consecutive + 1
    .. i all have a value strictly below ``threshold``; so a threshold of -1.0 never fires.
    Raises ValueError for ``consecutive`` below 1.
    """
    if consecutive < 1:
        raise ValueError(f"consecutive must be at least 1, not {consecutive}")
    run = 0
    for i, value in enumerate(root_values):
        run = run + 1 if value < threshold else 0
        if run >= consecutive:
            return i
    return None

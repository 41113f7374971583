"""The smallest run that still exercises every part: tests build on these overrides."""

from __future__ import annotations

from typing import Any

#: 5x5, a 1-block x 8-channel net, 4 simulations: a game takes milliseconds.
TINY_RUN: dict[str, Any] = {
    "board.size": 5,
    "board.komi": 0.5,
    "net.blocks": 1,
    "net.channels": 8,
    "net.history": 2,
    "search.simulations": 4,
    "train.batch_size": 16,
    "train.min_replay": 16,
    "train.max_moves": 30,
    "train.threads": 1,
}

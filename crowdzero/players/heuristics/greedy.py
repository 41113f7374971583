"""`heuristic:greedy`, the member who cannot leave a capture on the board.

Weakness: whenever any capture is legal it captures (choosing by the number of stones
taken and nothing else), even when the capturing chain is left in atari for a snapback or
while a bigger group of its own is in atari elsewhere. Beginners have this flaw because a
capture is the one gain they can see for certain; what it costs them a move later is
invisible until they have been punished for it many times.

Exploit: offer a stone that is a snapback (or a throw-in that the capture only fills a
liberty for), or put one of its groups in atari while leaving one of your stones capturable.
"""

from __future__ import annotations

import numpy as np

from crowdzero.go.position import Position
from crowdzero.players.heuristics.scoring import NEG_INF, HeuristicPlayer, MoveScores


class GreedyPlayer(HeuristicPlayer):
    """Sensible play, except that a legal capture is always taken (see the module doc)."""

    member = "greedy"
    flaw = "always captures when it can, even into a snapback or at the cost of a bigger group"

    def adjust(self, position: Position, scores: MoveScores) -> np.ndarray:
        captures = {p: e.captured for p, e in scores.effects.items() if e.captured}
        if not captures:
            return scores.logits
        logits = np.full_like(scores.logits, NEG_INF)
        for p, stones in captures.items():
            logits[p] = self.weights.capture_per_stone * min(stones, 8)
        return logits

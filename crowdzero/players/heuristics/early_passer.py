"""`heuristic:early-passer`, the member who stops as soon as it thinks it is ahead.

Weakness: once the opening is over (at least a quarter of the board's points have been
played as moves), it passes whenever its crude count (stones plus the empty points nearer
its stones, see `crude_estimate`, komi included) puts it `margin` points ahead, and it
keeps passing for as long as that count holds. Beginners stop early because they count
loose frameworks and dead stones as settled; "I am ahead, so nothing more to do" is the
same error.

Exploit: do not pass back. Every pass gives you a free move: invade its loose areas,
capture its weak stones, and its count stays rosy until it is too late.
"""

from __future__ import annotations

import numpy as np

from crowdzero.go.position import Position
from crowdzero.players.heuristics.scoring import (
    DEFAULT_WEIGHTS,
    NEG_INF,
    HeuristicPlayer,
    MoveScores,
    Weights,
)
from crowdzero.players.heuristics.tactics import crude_estimate

DEFAULT_MARGIN = 3.0


class EarlyPasserPlayer(HeuristicPlayer):
    """Sensible play that passes once a crude count says it leads by `margin` points."""

    member = "early-passer"
    flaw = "passes as soon as a crude count says it is ahead"

    def __init__(
        self,
        seed: int | None = None,
        temperature: float = 0.5,
        weights: Weights = DEFAULT_WEIGHTS,
        name: str | None = None,
        margin: float = DEFAULT_MARGIN,
        opening_share: float = 0.25,
    ) -> None:
        super().__init__(seed, temperature, weights, name)
        self.margin = margin
        self.opening_share = opening_share

    def thinks_it_leads(self, position: Position) -> bool:
        """After the opening, does the crude count put the side to move `margin` ahead?"""
        size = position.size
        if len(position.moves) < self.opening_share * size * size:
            return False
        estimate = crude_estimate(position.board.tolist(), size, position.komi)
        return position.to_play * estimate >= self.margin

    def adjust(self, position: Position, scores: MoveScores) -> np.ndarray:
        if not self.thinks_it_leads(position):
            return scores.logits
        logits = np.full_like(scores.logits, NEG_INF)
        logits[-1] = 0.0
        return logits

"""`heuristic:local`, the member who always answers where the opponent just played.

Weakness: tenuki-blind. Whenever the opponent's last move was on the board and there is a
sensible point (scored no worse than passing) within two lines of it (Chebyshev distance
<= 2), it plays there, however much bigger a point elsewhere is: a capture, a group of its
own in atari, an open corner. Humans have this flaw because the last move draws the eye
and answering it feels safe ("it must be a threat"); judging that a move may be ignored
takes reading and a sense of value.

Exploit: play anywhere to make it answer there, then take the big point or the tactical
move elsewhere; atari one of its groups far from where you made it look.
"""

from __future__ import annotations

import numpy as np

from crowdzero.go.position import Position
from crowdzero.players.heuristics.scoring import (
    HeuristicPlayer,
    MoveScores,
    opponent_last_move,
    restrict,
)
from crowdzero.players.heuristics.tactics import chebyshev

LOCAL_REACH = 2


def local_points(position: Position, last: int, reach: int = LOCAL_REACH) -> np.ndarray:
    """bool [N*N+1]: board points within `reach` lines (Chebyshev) of `last`."""
    size = position.size
    near = np.zeros(size * size + 1, dtype=np.bool_)
    for p in range(size * size):
        near[p] = chebyshev(p, last, size) <= reach
    return near


class LocalPlayer(HeuristicPlayer):
    """Sensible play restricted to the neighbourhood of the opponent's last move."""

    member = "local"
    flaw = "always answers within two lines of the opponent's last move (tenuki-blind)"

    def adjust(self, position: Position, scores: MoveScores) -> np.ndarray:
        last = opponent_last_move(position)
        if last is None:
            return scores.logits
        sensible = np.isfinite(scores.logits) & (scores.logits >= self.weights.pass_)
        allowed = sensible & local_points(position, last)
        allowed[-1] = False
        if not allowed.any():
            return scores.logits
        return restrict(scores.logits, allowed)

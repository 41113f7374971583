"""`heuristic:ladder-blind`, the member who runs out every ladder.

Weakness: it cannot read ladders. Whenever a chain of its own is in atari and extending on
its last liberty gives it two or more liberties, it extends (the biggest chain first),
even when the attacker can keep giving atari to the edge: a working ladder, where every
extension only adds stones to the group that dies. Humans have this flaw because the
extension gains a liberty right now, and seeing that the attacker wins needs a long,
narrow reading sequence a beginner does not do.

Exploit: put its stones in atari where the ladder works (no ladder breaker on the
diagonal); it keeps extending and loses the whole chain, while each atari you played
strengthens you.
"""

from __future__ import annotations

import numpy as np

from crowdzero.go.position import Position
from crowdzero.players.heuristics.scoring import NEG_INF, HeuristicPlayer, MoveScores


class LadderBlindPlayer(HeuristicPlayer):
    """Sensible play without ladder reading; an own chain in atari is always extended."""

    member = "ladder-blind"
    flaw = "always extends a group in atari, even one caught in a working ladder"
    read_ladders = False

    def adjust(self, position: Position, scores: MoveScores) -> np.ndarray:
        extensions = {
            p: e.saved for p, e in scores.effects.items() if e.extends_atari and e.liberties >= 2
        }
        if not extensions:
            return scores.logits
        logits = np.full_like(scores.logits, NEG_INF)
        for p, stones in extensions.items():
            logits[p] = self.weights.save_per_stone * min(stones, 8)
        return logits

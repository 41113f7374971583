"""`heuristic:edge-neglect`, the member who never saves a group on the first line.

Weakness: when a chain of its own that lies entirely on the first line (the edge) is in
atari, it never plays a rescuing move for it: neither the extension on its last liberty
nor a capture of a neighbouring attacker. Stones on the edge look small and hopeless to a
beginner ("the first line is for losers"), so rescuing them never feels worth a move,
even when the rescue is easy and the stones cut or connect something important.

Exploit: push its edge stones into atari; they are free to take, and the cutting or
connecting stones among them often decide a bigger fight.
"""

from __future__ import annotations

import numpy as np

from crowdzero.go.position import Position
from crowdzero.players.heuristics.scoring import NEG_INF, HeuristicPlayer, MoveScores


class EdgeNeglectPlayer(HeuristicPlayer):
    """Sensible play that never rescues an own first-line chain from atari."""

    member = "edge-neglect"
    flaw = "never saves its own first-line group in atari"

    def adjust(self, position: Position, scores: MoveScores) -> np.ndarray:
        logits = scores.logits.copy()
        for p, effect in scores.effects.items():
            if effect.first_line_rescue:
                logits[p] = NEG_INF
        return logits

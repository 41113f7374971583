"""Advice: a move someone suggests to the agent, and who suggested it.

The claim under study says an agent trained against a crowd exploits its members rather
than imitating them, doing what they want, or taking their advice. To measure the third
part the agent must be able to *hear* advice: for some of its moves an adviser suggests a
move, and a network built with advice planes (`NetConfig.advice_planes`) reads the
suggestion and its source as input planes (`crowdzero.go.features`). Whether it learns to
follow, ignore or avoid a source is then up to training; nothing else changes.

The record lives here, at the bottom of the layers, because the feature planes (go/), the
game record (play/) and the store all need it.
"""

from __future__ import annotations

from dataclasses import dataclass

from crowdzero.go.coords import point_to_gtp

#: Who can give advice, in the order of their source planes. The intent of each:
#: "helpful" a strong engine's choice for the agent's side; "opponent" the player across
#: the board, choosing what its own evaluation rates worst for the agent; "random" a
#: uniform plausible move; "human" a person in the web page (or a GTP user).
ADVICE_SOURCES: tuple[str, ...] = ("helpful", "opponent", "random", "human")


@dataclass(frozen=True)
class Advice:
    """A suggested move for the side to move: `point` (N*N = pass) from `source`.

    `adviser` names who advised (e.g. "gnugo:10", the opponent's name, "web"), kept with
    the game for the study; the network sees only the point and the source kind.
    """

    point: int
    source: str
    adviser: str = ""

    def __post_init__(self) -> None:
        if self.source not in ADVICE_SOURCES:
            raise ValueError(
                f"advice source must be one of {', '.join(ADVICE_SOURCES)}, not {self.source!r}"
            )
        if isinstance(self.point, bool) or not isinstance(self.point, int) or self.point < 0:
            raise ValueError(f"advice must name a point or pass (N*N), not {self.point!r}")

    def describe(self, size: int) -> str:
        """Short human label, e.g. 'D4 (helpful, gnugo:10)'."""
        who = f", {self.adviser}" if self.adviser else ""
        return f"{point_to_gtp(self.point, size)} ({self.source}{who})"

"""Where games are played: the one `Player` protocol every seat sits behind, the
`MatchRunner` that plays many games at once, and the `Game` record they produce.

Directly above the rules (`crowdzero.go`) and below everything that plays: training,
the arena, calibration, the study and the web page all drive games through this layer,
so a person in the browser (`HumanPlayer`), GnuGo over GTP and the learning agent are
seated the same way. `crowdzero.play.sgf` (SGF in and out of a `Game`) is imported on
its own: it pulls in sgfmill.
"""

from crowdzero.play.human import HumanPlayer, NotYourTurn
from crowdzero.play.match_runner import (
    AGENT_NAME,
    BOTH,
    DroppedGame,
    GameView,
    GameWatcher,
    MatchRunner,
    Pairing,
)
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError
from crowdzero.play.record import Game, Move

__all__ = [
    "AGENT_NAME",
    "BOTH",
    "DroppedGame",
    "Game",
    "GameView",
    "GameWatcher",
    "HumanPlayer",
    "MatchRunner",
    "Move",
    "MoveChoice",
    "MoveRequest",
    "NotYourTurn",
    "Pairing",
    "Player",
    "PlayerError",
]

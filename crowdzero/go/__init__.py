"""Go rules, coordinates, features and fast random play-outs.

`position.Position` is the rules engine; `coords` names points and colours; `features`
turns positions into network input; `playout` runs random games for Monte Carlo players.
"""

from crowdzero.go.coords import BLACK, EMPTY, RESIGN, WHITE, gtp_to_point, point_to_gtp
from crowdzero.go.errors import CoordinateError, IllegalMove, SgfError
from crowdzero.go.position import KoRule, Position, Rules

__all__ = [
    "BLACK",
    "EMPTY",
    "RESIGN",
    "WHITE",
    "CoordinateError",
    "IllegalMove",
    "KoRule",
    "Position",
    "Rules",
    "SgfError",
    "gtp_to_point",
    "point_to_gtp",
]

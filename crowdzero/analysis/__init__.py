"""Measuring strength: ratings, win rates, matches and the crowd's calibration table.

* `ratings` - Bradley-Terry Elo ratings with 95% intervals over every stored game,
  anchored at GnuGo 10 = 1800 (``crowdzero ratings runs/NAME``).
* `win_rates` - the agent's record by checkpoint and crowd member, over time, as a PNG.
* `arena` - `play_match`: N games between two players, colours alternating.
* `calibration` - the crowd members' games among themselves, shipped as package data.

Submodules are imported on use, so importing this package loads nothing heavy.
"""

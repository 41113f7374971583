"""`crowdzero study`: is the crowd-trained agent imitating its opponents or exploiting them?

`study_main` does the whole study in one call and reuses whatever it already has:

1. the agents: the newest checkpoint of the crowd run and of the self-play run, and the
   imitation agent (trained here if `OUT/imitation/` holds none, see `imitation_agent`);
   with `opponent_modelling`, a fourth: the crowd agent searching with a learned model
   of each heuristic member (models trained into `OUT/opponent-models/` unless there,
   see `opponent_modelling`);
2. the evaluation games, stored in `OUT/games.sqlite` (source "study"): every agent
   against every crowd member and every held-out opponent, and the agents head to head,
   `games` games a pairing (only the missing ones are played);
3. the measurements (`measure`, `metrics`), the claims they support, and the report
   (`report`): `OUT/index.html`, `OUT/*.png`, `OUT/results.json` and a summary on the
   terminal.

Each step is a function of `stages` over one `StudySettings`; see docs/study.md for what
each number means and the caveats.
"""

from __future__ import annotations

from rich.console import Console

from crowdzero.analysis.study.results import StudyResults
from crowdzero.analysis.study.settings import StudySettings
from crowdzero.analysis.study.stages import (
    collect,
    compare,
    field_agents,
    measure,
    open_runs,
    report,
    train_baselines,
)


def study_main(settings: StudySettings, console: Console | None = None) -> StudyResults:
    """Run the whole study (see the module docstring); returns what the report shows.
    StudyError when the runs cannot be studied (see `stages.open_runs`)."""
    console = console or Console(stderr=True)
    runs = open_runs(settings)
    baselines = train_baselines(settings, runs, console)
    with field_agents(settings, runs, baselines) as lineup:
        evidence = collect(settings, lineup, console)
        measured = measure(settings, lineup, evidence, console)
    results = compare(measured)
    report(settings, results, console)
    return results

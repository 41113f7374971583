"""Curves over training (issue #13): every stored checkpoint of a run against each crowd
member and each held-out opponent (the flawed members' twins first), with the planted
flaws' trigger rates and the search's top-1 agreement with the members.

    crowdzero study-curves runs/crowd-7x7 runs/self-7x7 --imitation study/imitation \\
        --member-games study/member-games.jsonl.gz --out study/curves --games 20

What is a point of a curve (`curve_points`):

* a training run's checkpoints: the marks ``RUN/marks/mark-<M>min.pt`` (written by
  `benchmarks/learn.py` at M minutes of training) and ``RUN/checkpoints/ckpt-*.pt``; two
  files of one step count once. x is the training wall time (minutes, from the mark's
  name or from the first metrics.csv row at or past the checkpoint's step), the step, or
  the run's CPU-seconds there (``cpu_s`` of metrics.csv);
* the imitation agent's snapshots (``OUT/imitation/snapshots/``, kept with
  ``StudySettings(imitation_snapshot_every=N)``) and its final checkpoint; x from their
  own training wall time and CPU (metadata ``seconds`` and ``cpu_seconds``); with
  ``points="marks"``, only the snapshots nearest the crowd run's marks by step, and the
  final checkpoint (`nearest_points`);
* ``every=K`` keeps every K-th point of each agent counting back from the newest, so the
  newest is always measured.

At each point, with the same noise-free search as the study (`collect.load_study_agent`,
named ``LABEL-agent@STEP``):

* its score against every crowd member and every held-out opponent, `games` games each,
  colours alternating, stored in ``OUT/curves.sqlite`` as they finish: an interrupted
  curve resumes where it stopped, and a longer `games` only plays the difference;
* for each flawed member (``flawed:FLAW:SPEC``) and its twin, the share of games where
  the flaw's detector fired on that opponent's seat (against the twin it should stay near
  0: the detectors' specificity, measured again);
* for each flawed member, the gap: the score against it minus the score against its twin
  (`flaw_gaps`), and the gaps' mean over the pairs; the crowd agent's pooled gap minus
  each other agent's at the same point of training (`gap_contrasts`) is the study's
  difference in differences there;
* with member-vs-member games, the search's top-1 agreement with the members on their
  positions (`agreement`), heuristic members and engines apart; kept in
  ``OUT/agreement-cache.json`` so a resumed curve does not search them again.

Output: ``OUT/curves.json`` (every number), ``OUT/curves.md`` (the tables),
``OUT/curves.png`` (one column per agent; rows: score per opponent, flaw trigger rates,
top-1 agreement; 95% intervals shaded; a twin dashed in its flawed member's colour) and
``OUT/exploitation.png`` (the gaps, every agent on one axis per pair, and the
contrasts). With
``draw_only`` nothing is played or searched: the points are drawn from what is stored,
to look at a long measurement while it runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crowdzero.analysis.inference import Estimate as ClusteredEstimate
from crowdzero.analysis.inference import (
    difference_of_estimates,
    difference_of_proportions,
    pooled_mean,
)
from crowdzero.analysis.study import metrics as m
from crowdzero.analysis.study.agreement import (
    member_vs_member,
    sample_member_game_positions,
    search_agreement,
)
from crowdzero.analysis.study.collect import (
    STUDY_SOURCE,
    Fixture,
    MemberPosition,
    PlayLog,
    fixture_games,
    load_study_agent,
    play_fixtures,
    study_agent_name,
)
from crowdzero.analysis.study.imitation_agent import IMITATION_MODE, SNAPSHOT_MODE, SNAPSHOTS
from crowdzero.analysis.study.results import plain_json
from crowdzero.analysis.study.twin_report import read_games
from crowdzero.analysis.study.twins import scores
from crowdzero.net.checkpoint import CheckpointError, checkpoint_files, load_checkpoint
from crowdzero.play.player import Player
from crowdzero.play.record import Game
from crowdzero.players.crowd import Crowd
from crowdzero.players.engines import EngineUnavailable
from crowdzero.players.flawed import flaw_of, twin_of
from crowdzero.players.registry import make_player
from crowdzero.players.spec import PlayerSpecError
from crowdzero.search.config import SearchConfig
from crowdzero.store.game_store import GameStore
from crowdzero.train.config import ConfigError, RunConfig
from crowdzero.train.run_dir import RunDir, RunDirError

Axis = Literal["minutes", "steps", "cpu"]
#: Which files of a run are points: marks and checkpoints, or one kind only.
Which = Literal["all", "marks", "checkpoints"]
WHICH: tuple[str, ...] = ("all", "marks", "checkpoints")
#: What a curve plots: a Wilson proportion or a game-clustered mean.
Measured = m.Estimate | ClusteredEstimate
AXES: tuple[str, ...] = ("minutes", "steps", "cpu")
MARK_RE = re.compile(r"mark-(?P<minutes>\d+(?:\.\d+)?)min\.pt")
STORE_NAME = "curves.sqlite"
CACHE_NAME = "agreement-cache.json"
_NOTHING_TO_DRAW = (
    "no game stored in {store} for any point yet: nothing to draw (measure without "
    "--draw-only first)"
)
#: The exploitation figure: the flawed-minus-twin gap of every agent over training.
EXPLOITATION_FIGURE = "exploitation.png"
#: The agent whose exploitation the curves contrast with every other (the study's).
CONTRASTED = "crowd"


class CurveError(RuntimeError):
    """The curves cannot be drawn as asked (no checkpoints, a run missing...)."""


@dataclass(frozen=True)
class CurveSettings:
    """Everything `curves_main` needs. Paths are stored as `Path`, lists as tuples."""

    #: Training runs (crowd or self mode); each run's label is its mode, or its folder
    #: name when two runs share a mode.
    runs: tuple[Path, ...]
    #: Folder of the imitation agent (a study's OUT/imitation), or None.
    imitation: Path | None = None
    out_dir: Path = Path("curves")
    #: Games per checkpoint and opponent.
    games: int = 20
    #: Measure every this-many-th checkpoint of each agent, counting back from the newest.
    every: int = 1
    #: A run's points: its marks and checkpoints ("all"), or one kind only.
    points: Which = "all"
    #: Crowd file to play against; None: the crowd run's (a self-play run alone needs it).
    crowd: str | None = None
    #: Held-out opponents; None: the crowd file's ``[study] held_out``.
    held_out: tuple[str, ...] | None = None
    #: Member-vs-member games for the top-1 agreement (None: not measured).
    member_games: Path | None = None
    #: Member positions searched per checkpoint for the top-1 agreement.
    positions: int = 200
    #: The x axis of curves.png: training minutes, steps or CPU-seconds.
    x: Axis = "minutes"
    threads: int = 2
    concurrency: int = 16
    seed: int = 0
    #: Play and search nothing: draw the points from the games and agreements stored so
    #: far (a look at a long measurement while it runs; curves.md says how much is missing).
    draw_only: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", tuple(Path(p) for p in self.runs))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        for name in ("imitation", "member_games"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        if self.held_out is not None:
            object.__setattr__(self, "held_out", tuple(self.held_out))
        if self.x not in AXES:
            raise CurveError(f"x must be one of {', '.join(AXES)}, not {self.x!r}")
        if self.points not in WHICH:
            raise CurveError(f"points must be one of {', '.join(WHICH)}, not {self.points!r}")
        for name in ("games", "every", "positions", "concurrency"):
            if getattr(self, name) < 1:
                raise CurveError(f"{name} must be at least 1, not {getattr(self, name)}")


# -- the points of a curve -------------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    """One checkpoint of one agent, with where it stands in that agent's training."""

    label: str
    checkpoint: Path
    step: int
    #: Training wall time when it was written (None: not known).
    minutes: float | None
    #: CPU-seconds of training when it was written (None: not known).
    cpu_seconds: float | None

    def x(self, axis: Axis) -> float | None:
        if axis == "steps":
            return float(self.step)
        if axis == "cpu":
            return self.cpu_seconds
        return self.minutes


def _clock(metrics: Sequence[Mapping[str, str]], step: int) -> tuple[float | None, float | None]:
    """(minutes, cpu_s) of the first metrics row at or past `step`; past every row (the
    final checkpoint is written after the last row), the last row's; (None, None) without
    rows."""
    rows = [row for row in metrics if _number(row.get("step")) is not None]
    if not rows:
        return None, None
    row = next((r for r in rows if (_number(r.get("step")) or 0) >= step), rows[-1])
    wall = _number(row.get("wall_s")) or _number(row.get("elapsed_s"))
    return (None if wall is None else wall / 60.0), _number(row.get("cpu_s"))


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def run_points(run: RunDir, label: str, which: Which = "all") -> list[CurvePoint]:
    """Every mark and checkpoint of `run` (or only its marks, or only its checkpoints),
    oldest first, one per step."""
    metrics = run.read_metrics()
    by_step: dict[int, CurvePoint] = {}
    marks = sorted((run.path / "marks").glob("mark-*min.pt")) if which != "checkpoints" else []
    checkpoints = list(reversed(run.checkpoint_paths())) if which != "marks" else []
    for path in [*marks, *checkpoints]:
        try:
            step = (
                RunDir.checkpoint_step(path)
                if path.name.startswith("ckpt-")
                else load_checkpoint(path).step
            )
        except (CheckpointError, ValueError):
            continue
        if step in by_step:
            continue
        minutes, cpu = _clock(metrics, step)
        mark = MARK_RE.fullmatch(path.name)
        if mark is not None:
            minutes = float(mark["minutes"])
        by_step[step] = CurvePoint(label, path, step, minutes, cpu)
    return [by_step[s] for s in sorted(by_step)]


def imitation_points(folder: Path) -> list[CurvePoint]:
    """The imitation agent's snapshots and final checkpoint, oldest first."""
    points: dict[int, CurvePoint] = {}
    for path in [*checkpoint_files(folder / SNAPSHOTS), *checkpoint_files(folder)]:
        try:
            loaded = load_checkpoint(path)
        except CheckpointError:
            continue
        meta = loaded.metadata
        if meta.get("mode") not in (IMITATION_MODE, SNAPSHOT_MODE):
            continue
        seconds, cpu = meta.get("seconds"), meta.get("cpu_seconds")
        points[loaded.step] = CurvePoint(
            "imitation",
            path,
            loaded.step,
            None if seconds is None else float(seconds) / 60.0,
            None if cpu is None else float(cpu),
        )
    return [points[s] for s in sorted(points)]


def nearest_points(points: Sequence[CurvePoint], steps: Sequence[int]) -> list[CurvePoint]:
    """For each of `steps`, the point of the nearest step (the later one on a tie), and the
    newest point; each once, oldest first.

    With ``points="marks"`` the imitation agent is drawn at the crowd run's marks by
    gradient step (its budget is the crowd agent's steps), not at its every snapshot: a
    study keeps a snapshot every 200 steps, 40 on 9x9, which would cost five times the
    games of a run's eight marks.
    """
    if not points:
        return []
    chosen = {points[-1].step: points[-1]}
    for step in steps:
        best = min(points, key=lambda p: (abs(p.step - step), -p.step))
        chosen[best.step] = best
    return [chosen[s] for s in sorted(chosen)]


def every_kth(points: Sequence[CurvePoint], every: int) -> list[CurvePoint]:
    """Every `every`-th point counting back from the newest (always kept), oldest first."""
    return list(points)[::-1][::every][::-1]


# -- measuring -------------------------------------------------------------------------


@dataclass(frozen=True)
class CurveRow:
    """Everything measured at one point."""

    point: CurvePoint
    agent: str
    #: Score (win 1, draw 1/2) against each opponent, Wilson interval, `games` games.
    scores: dict[str, m.Estimate]
    #: Per flawed member and per twin: share of games where the flaw's detector fired
    #: on that opponent's seat.
    triggers: dict[str, m.Estimate]
    #: Top-1 agreement of the search with the members (`agreement`), empty without
    #: member games.
    agreement: dict[str, ClusteredEstimate]
    #: Per flawed member: the score against it minus the score against its twin (normal
    #: 95% interval, the two sets of games independent), `flaw_gaps`. Exploitation is
    #: one agent's gap above another's; the curves show where in training it appears.
    gaps: dict[str, ClusteredEstimate] = dataclasses.field(default_factory=dict)
    #: The gaps' equal-weight mean over the pairs (`inference.pooled_mean`), the curve's
    #: counterpart of the study's claim 1; None without a twin pair.
    pooled_gap: ClusteredEstimate | None = None


@dataclass(frozen=True)
class GapContrast:
    """At the k-th point of two agents' curves, the first one's pooled gap minus the
    second's: the study's difference in differences (claim 1) at that point of training.

    Points pair by order: two runs drawn at their marks meet at the same training minutes,
    and the imitation agent's points are its snapshots nearest the crowd run's marks by
    gradient step (`nearest_points`), its budget being the crowd agent's steps."""

    agent: str
    control: str
    #: 1 for the first point of each curve.
    order: int
    agent_step: int
    control_step: int
    #: The agent's training minutes there (None: not known).
    minutes: float | None
    estimate: ClusteredEstimate
    p_value: float


@dataclass(frozen=True)
class Curves:
    """Every row, and who the opponents were."""

    members: tuple[str, ...]
    held_out: tuple[str, ...]
    #: Flawed member -> its twin.
    twins: dict[str, str]
    rows: tuple[CurveRow, ...]
    x: str
    games_played: int
    games_reused: int
    positions: int
    notes: tuple[str, ...] = ()
    #: `CONTRASTED`'s pooled gap minus each other agent's, point by point (`gap_contrasts`).
    contrasts: tuple[GapContrast, ...] = ()
    #: What was asked (curves.json records it, so `scripts/reproduce_study.py` can ask again).
    settings: CurveSettings | None = None


def trigger_rates(
    games_by_opponent: Mapping[str, Sequence[Game]], agent: str
) -> dict[str, m.Estimate]:
    """For each flawed opponent and each twin of one, the share of the agent's games
    against it where the flaw's detector fired on the opponent's seat."""
    flaws = {name: flaw_of(name) for name in games_by_opponent}
    planted = {twin_of(name): flaw for name, flaw in flaws.items() if flaw is not None}
    out: dict[str, m.Estimate] = {}
    for opponent, games in games_by_opponent.items():
        flaw = flaws[opponent] or planted.get(opponent)
        if flaw is None:
            continue
        out[opponent] = m.flaw_rate([flaw.detect(g, -g.colour_of(agent)) for g in games])
    return out


def flaw_gaps(
    games_by_opponent: Mapping[str, Sequence[Game]], agent: str, twins: Mapping[str, str]
) -> tuple[dict[str, ClusteredEstimate], ClusteredEstimate | None]:
    """For each flawed member (`twins`: flawed member -> twin) with games against both:
    the agent's score against it minus against its twin, and their pooled mean.

    A curve's point has few games a pairing (20 in the study), often all lost or all won:
    the gap's interval is Newcombe's (`difference_of_proportions`), which keeps its width
    there, where the normal interval of the study's 100-game cells would collapse."""
    gaps: dict[str, ClusteredEstimate] = {}
    for flawed, twin in twins.items():
        against_flawed = scores(games_by_opponent.get(flawed, ()), agent, flawed)
        against_twin = scores(games_by_opponent.get(twin, ()), agent, twin)
        if against_flawed and against_twin:
            gaps[flawed] = difference_of_proportions(
                sum(against_flawed), len(against_flawed), sum(against_twin), len(against_twin)
            )
    pooled = pooled_mean(list(gaps.values())).estimate if gaps else None
    return gaps, pooled


def gap_contrasts(
    rows: Sequence[CurveRow], agent: str = CONTRASTED
) -> tuple[tuple[GapContrast, ...], tuple[str, ...]]:
    """`agent`'s pooled gap minus every other agent's at the same point of training, and
    a note for each agent left out: two curves pair point by point only when they have
    as many points (a curve still being measured, or drawn at other points, has not)."""
    by_label: dict[str, list[CurveRow]] = {}
    for row in rows:
        by_label.setdefault(row.point.label, []).append(row)
    mine = sorted(by_label.pop(agent, []), key=lambda r: r.point.step)
    if not mine:
        return (), ()
    contrasts: list[GapContrast] = []
    notes: list[str] = []
    for control, theirs in by_label.items():
        theirs = sorted(theirs, key=lambda r: r.point.step)
        if len(theirs) != len(mine):
            notes.append(
                f"no exploitation contrast of {agent} with {control}: {len(mine)} points "
                f"against {len(theirs)}, which do not pair"
            )
            continue
        for order, (a, b) in enumerate(zip(mine, theirs, strict=True), start=1):
            if a.pooled_gap is None or b.pooled_gap is None:
                continue
            contrast = difference_of_estimates(a.pooled_gap, b.pooled_gap)
            contrasts.append(
                GapContrast(
                    agent,
                    control,
                    order,
                    a.point.step,
                    b.point.step,
                    a.point.minutes,
                    contrast.estimate,
                    contrast.p_value,
                )
            )
    return tuple(contrasts), tuple(notes)


def _agents(settings: CurveSettings) -> tuple[list[CurvePoint], dict[str, SearchConfig], RunConfig]:
    """Every point to measure, each label's search settings, and the config whose rules
    and move cap the games use (the crowd run's, else the first run's)."""
    if not settings.runs and settings.imitation is None:
        raise CurveError("name at least one run or --imitation")
    runs: list[tuple[str, RunDir]] = []
    for path in settings.runs:
        try:
            run = RunDir.open(path)
        except (RunDirError, ConfigError) as exc:
            raise CurveError(str(exc)) from exc
        runs.append((run.config.train.mode, run))
    modes = [mode for mode, _ in runs]
    labelled = [(mode if modes.count(mode) == 1 else run.name, run) for mode, run in runs]
    points: list[CurvePoint] = []
    searches: dict[str, SearchConfig] = {}
    steps: dict[Path, list[int]] = {}  # each run's points, by the run's folder
    for label, run in labelled:
        found = run_points(run, label, settings.points)
        steps[run.path] = [p.step for p in found]
        if not found:
            kind = {"all": "checkpoints or marks", "marks": "marks"}.get(settings.points)
            raise CurveError(f"{run.path} has no {kind or 'checkpoints'} yet")
        points += every_kth(found, settings.every)
        searches[label] = run.config.search
    crowd_runs = [run for mode, run in runs if mode == "crowd"]
    base = crowd_runs[0] if crowd_runs else (runs[0][1] if runs else None)
    if settings.imitation is not None:
        found = imitation_points(settings.imitation)
        if not found:
            raise CurveError(f"{settings.imitation} holds no imitation checkpoints")
        if base is None:
            source = load_checkpoint(found[-1].checkpoint).metadata.get("source_run")
            if not source:
                raise CurveError("the imitation agent names no crowd run; name it too")
            base = RunDir.open(source)
        if settings.points == "marks" and crowd_runs:  # the crowd run's marks, found above
            found = nearest_points(found, steps[crowd_runs[0].path])
        points += every_kth(found, settings.every)
        # The imitation agent searches as the crowd run does (the study's rule).
        searches["imitation"] = base.config.search
    assert base is not None
    return points, searches, base.config


def _crowd_spec(settings: CurveSettings, config: RunConfig) -> str:
    spec = settings.crowd or (config.train.crowd if config.train.mode == "crowd" else None)
    if not spec:
        raise CurveError("a self-play run alone has no crowd: give --crowd")
    return spec


class _AgreementCache:
    """Top-1 agreement already measured, by checkpoint file, step and positions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, dict[str, dict[str, float | None]]] = (
            json.loads(path.read_text()) if path.is_file() else {}
        )

    @staticmethod
    def key(point: CurvePoint, settings: CurveSettings, positions: int) -> str:
        """The checkpoint, and the positions it was measured on (member games, how many,
        which seed drew them): a change to any of them measures again."""
        games = settings.member_games
        source = "" if games is None else f"{games.resolve()}:{games.stat().st_size}"
        return f"{point.checkpoint.resolve()}@{point.step}|{source}:{positions}:{settings.seed}"

    def get(self, key: str) -> dict[str, ClusteredEstimate] | None:
        found = self._data.get(key)
        if found is None:
            return None

        def number(value: float | None) -> float:
            return math.nan if value is None else float(value)  # JSON null is nan

        return {
            k: ClusteredEstimate(
                number(e["value"]),
                number(e["se"]),
                number(e["low"]),
                number(e["high"]),
                int(e["n"] or 0),
                int(e["games"] or 0),
            )
            for k, e in found.items()
        }

    def put(self, key: str, value: Mapping[str, ClusteredEstimate]) -> None:
        self._data[key] = json.loads(plain_json(dict(value)))
        # Two curves processes may share one folder, each with its own points (one store
        # takes both's games): keep what the other wrote since, and replace the file
        # whole, so neither ever reads half of it.
        try:
            on_disk = json.loads(self.path.read_text()) if self.path.is_file() else {}
        except json.JSONDecodeError:
            on_disk = {}
        self._data = {**on_disk, **self._data}
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(self._data, indent=1) + "\n")
        os.replace(partial, self.path)


@dataclass(frozen=True)
class CurvePlan:
    """What `check_curves` found: the points to measure, each label's search settings,
    the config whose rules and move cap the games use, and the crowd file."""

    points: tuple[CurvePoint, ...]
    searches: dict[str, SearchConfig]
    config: RunConfig
    crowd: str


def check_curves(settings: CurveSettings) -> CurvePlan:
    """CurveError (or the crowd's CrowdError) when the curves cannot be drawn as asked: a
    run that will not open or has no checkpoint, no crowd to play, a crowd file that does
    not load, member games missing. Writes nothing."""
    points, searches, config = _agents(settings)
    crowd = _crowd_spec(settings, config)
    Crowd.load(crowd, board_size=config.board.size, build_players=False).close()
    if settings.member_games is not None and not settings.member_games.is_file():
        raise CurveError(f"member games {settings.member_games} is not a file")
    if settings.draw_only and not (settings.out_dir / STORE_NAME).is_file():
        raise CurveError(_NOTHING_TO_DRAW.format(store=settings.out_dir / STORE_NAME))
    return CurvePlan(tuple(points), searches, config, crowd)


def measure_curves(
    settings: CurveSettings, on_progress: Callable[[str], None] = lambda text: None
) -> Curves:
    """Play what is missing at every point and measure it (see the module doc)."""
    plan = check_curves(settings)
    points, searches, config = plan.points, plan.searches, plan.config
    size = config.board.size
    out = settings.out_dir
    notes: list[str] = []
    held_players: list[Player] = []
    with Crowd.load(plan.crowd, board_size=size) as crowd:
        members = [crowd.player(name) for name in crowd.names]
        specs = [crowd.member(name).spec for name in crowd.names]
        notes += [f"crowd member {n} disabled: {why}" for n, why in crowd.disabled.items()]
        held_specs = crowd.held_out if settings.held_out is None else settings.held_out
        try:
            for spec in held_specs:
                try:
                    held_players.append(make_player(spec))
                except (EngineUnavailable, PlayerSpecError) as exc:  # a note, not a stop
                    notes.append(f"held-out opponent {spec} left out: {exc}")
            opponents = [*members, *held_players]
            names = [p.name for p in opponents]
            twins = {
                name: twin
                for name in names
                if (twin := twin_of(name)) is not None
                and twin in names
                and flaw_of(name) is not None
            }
            positions = _positions(settings, {*names, *specs, *crowd.names})
            out.mkdir(parents=True, exist_ok=True)
            cache = _AgreementCache(out / CACHE_NAME)
            rows: list[CurveRow] = []
            played = reused = missing = 0
            with GameStore(out / STORE_NAME) as store:
                stored = sum(
                    min(settings.games, store.count_between(agent_name, opponent, STUDY_SOURCE))
                    for agent_name in (study_agent_name(p.label, p.step) for p in points)
                    for opponent in names
                )
                tick = _GameTicker(settings.games * len(names) * len(points), stored, on_progress)
                for point in points:
                    agent = load_study_agent(
                        point.label,
                        point.checkpoint,
                        searches[point.label],
                        threads=settings.threads,
                        seed=settings.seed,
                    )
                    try:
                        log = PlayLog()
                        if not settings.draw_only:
                            log = play_fixtures(
                                [Fixture(agent.player, o, settings.games) for o in opponents],
                                store,
                                config.rules,
                                concurrency=settings.concurrency,
                                max_moves=config.max_moves,
                                on_game=tick,
                            )
                        played = played + log.played
                        notes += [f"{agent.name}: dropped game: {r}" for r in log.dropped[:3]]
                        by_opponent = {
                            n: fixture_games(store, agent.name, n)[: settings.games] for n in names
                        }
                        have = sum(len(g) for g in by_opponent.values())
                        if settings.draw_only:
                            reused += have
                            missing += settings.games * len(names) - have
                        else:
                            reused += log.reused
                        agreement: dict[str, ClusteredEstimate] = {}
                        if positions:
                            key = cache.key(point, settings, len(positions))
                            cached = cache.get(key)
                            if cached is None and not settings.draw_only:
                                cached = search_agreement(agent, positions).by_group
                                cache.put(key, cached)
                            agreement = cached or {}
                    finally:
                        agent.close()
                    if settings.draw_only and not have:
                        continue  # not measured yet: no point to draw
                    gaps, pooled_gap = flaw_gaps(by_opponent, agent.name, twins)
                    rows.append(
                        CurveRow(
                            point,
                            agent.name,
                            {n: m.win_rate(g, agent.name) for n, g in by_opponent.items()},
                            trigger_rates(by_opponent, agent.name),
                            agreement,
                            gaps,
                            pooled_gap,
                        )
                    )
                    on_progress(
                        f"{agent.name}: {sum(len(g) for g in by_opponent.values())} games "
                        f"({log.played} new)"
                    )
        finally:
            for player in held_players:
                player.close()
    contrasts, unpaired = gap_contrasts(rows)
    notes += unpaired
    if settings.draw_only and missing:
        notes.append(
            f"drawn from the games stored so far: {missing} of "
            f"{settings.games * len(names) * len(points)} games not played yet, "
            f"{len(points) - len(rows)} of {len(points)} points not drawn"
        )
    return Curves(
        members=tuple(p.name for p in members),
        held_out=tuple(p.name for p in held_players),
        twins=twins,
        rows=tuple(rows),
        x=settings.x,
        games_played=played,
        games_reused=reused,
        positions=len(positions),
        notes=tuple(notes),
        contrasts=contrasts,
        settings=settings,
    )


class _GameTicker:
    """Progress of a long curves measurement: every `every` games, how many of all the
    points' games are stored, the pace of this session and the time left at that pace."""

    def __init__(
        self, total: int, stored: int, say: Callable[[str], None], every: int = 25
    ) -> None:
        self.total, self.stored, self.say, self.every = total, stored, say, every
        self.played = 0
        self.start = time.monotonic()

    def __call__(self, game: Game) -> None:
        self.played += 1
        if self.played % self.every:
            return
        minutes = (time.monotonic() - self.start) / 60
        pace = self.played / minutes if minutes > 0 else math.inf
        left = max(0, self.total - self.stored - self.played)
        self.say(
            f"  {self.stored + self.played} of {self.total} games stored "
            f"({pace:.1f} a minute; about {left / pace / 60:.1f} h left at that pace)"
        )


def _positions(settings: CurveSettings, members: set[str]) -> list[MemberPosition]:
    if settings.member_games is None:
        return []
    if not settings.member_games.is_file():
        raise CurveError(f"member games {settings.member_games} is not a file")
    games = member_vs_member(read_games(settings.member_games), members)
    if not games:
        raise CurveError(f"{settings.member_games} holds no game between two members of the crowd")
    return sample_member_game_positions(games, settings.positions, seed=settings.seed)


# -- output ----------------------------------------------------------------------------

_X_LABELS = {
    "minutes": "training minutes (wall clock; imitation: its own)",
    "steps": "training steps",
    "cpu": "training CPU-seconds (imitation: its own)",
}


def _percent(e: m.Estimate | ClusteredEstimate) -> str:
    if e.n == 0:
        return "n/a"
    low, high = e.low, e.high
    interval = "" if low != low else f" [{low:.0%}, {high:.0%}]"
    return f"{e.value:.0%}{interval}"


def _x_text(point: CurvePoint) -> tuple[str, str]:
    minutes = "" if point.minutes is None else f"{point.minutes:.1f}"
    cpu = "" if point.cpu_seconds is None else f"{point.cpu_seconds:.0f}"
    return minutes, cpu


def curves_markdown(curves: Curves) -> str:
    """curves.md: score per opponent, trigger rates and agreement, one row per point."""
    opponents = [*curves.members, *curves.held_out]
    twin_of_member = curves.twins
    lines = [
        "# Curves over training",
        "",
        "Score of each checkpoint against each opponent (Wilson 95% interval). Held-out "
        "opponents are marked (held out); a flawed member's twin is named after it.",
        "",
        "| agent | step | minutes | CPU s | opponent | games | score | flaw fired |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    twins = {twin: flawed for flawed, twin in twin_of_member.items()}
    for row in curves.rows:
        minutes, cpu = _x_text(row.point)
        for opponent in opponents:
            score = row.scores.get(opponent)
            if score is None:
                continue
            role = " (held out)" if opponent in curves.held_out else ""
            if opponent in twins:
                role = f" (twin of {twins[opponent]})"
            trigger = row.triggers.get(opponent)
            lines.append(
                f"| {row.point.label} | {row.point.step} | {minutes} | {cpu} | "
                f"{opponent}{role} | {score.n} | {_percent(score)} | "
                f"{'' if trigger is None else _percent(trigger)} |"
            )
    lines += _gap_table(curves)
    lines += _contrast_table(curves)
    if any(row.agreement for row in curves.rows):
        groups = list(next(row.agreement for row in curves.rows if row.agreement))
        lines += _point_table(
            curves,
            f"Top-1 agreement of the search with the members on {curves.positions} "
            "member-vs-member positions (95% interval clustered by game):",
            groups,
            lambda row, g: _percent(row.agreement[g]) if g in row.agreement else "",
        )
    if curves.notes:
        lines += ["", "Notes:", "", *[f"- {note}" for note in curves.notes]]
    return "\n".join(lines) + "\n"


def _signed(e: ClusteredEstimate | None) -> str:
    if e is None or e.n == 0:
        return ""
    if math.isnan(e.low):
        return f"{e.value:+.2f}"
    return f"{e.value:+.2f} [{e.low:+.2f}, {e.high:+.2f}]"


def _point_table(
    curves: Curves, intro: str, columns: Sequence[str], cell: Callable[[CurveRow, str], str]
) -> list[str]:
    """A curves.md table with one row per point and one column per `columns` entry."""
    lines = [
        "",
        intro,
        "",
        "| agent | step | minutes | CPU s | " + " | ".join(columns) + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in curves.rows:
        minutes, cpu = _x_text(row.point)
        cells = " | ".join(cell(row, column) for column in columns)
        lines.append(f"| {row.point.label} | {row.point.step} | {minutes} | {cpu} | {cells} |")
    return lines


def _gap_table(curves: Curves) -> list[str]:
    """The exploitation rows of curves.md: each point's gaps, pooled first."""
    pairs = list(curves.twins)
    if not pairs or not any(row.gaps for row in curves.rows):
        return []
    return _point_table(
        curves,
        "Exploitation over training: the score against each flawed member minus the score "
        "against its twin (95% interval, Newcombe's); pooled, their mean over the pairs. "
        "One agent exploits a flaw more than another where its gap is the higher (the "
        "study's difference in differences).",
        ["pooled", *pairs],
        lambda row, name: _signed(row.pooled_gap if name == "pooled" else row.gaps.get(name)),
    )


def _contrast_table(curves: Curves) -> list[str]:
    """The difference-in-differences rows of curves.md: one per point and control."""
    if not curves.contrasts:
        return []
    agent = curves.contrasts[0].agent
    lines = [
        "",
        f"Exploitation contrast over training: {agent}'s pooled gap minus each other "
        "agent's at the same point of training (the k-th point of each curve; normal 95% "
        "interval, two-sided p, not corrected for the many points: exploratory). Above 0: "
        f"{agent} gains more from the planted flaws than that agent does.",
        "",
        f"| point | {agent} step | minutes | control | control step | contrast | p |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in curves.contrasts:
        minutes = "" if c.minutes is None else f"{c.minutes:.1f}"
        p = "" if math.isnan(c.p_value) else f"{c.p_value:.2f}"
        lines.append(
            f"| {c.order} | {c.agent_step} | {minutes} | {c.control} | {c.control_step} | "
            f"{_signed(c.estimate)} | {p} |"
        )
    return lines


def _colours(curves: Curves) -> dict[str, tuple[str, str]]:
    """opponent -> (colour, line style): a twin is dashed in its flawed member's colour."""
    import matplotlib

    # Ten distinct colours first (tab10), then the light shades of tab20.
    tab10, tab20 = matplotlib.colormaps["tab10"], matplotlib.colormaps["tab20"]
    palette = [matplotlib.colors.to_hex(tab10(k)) for k in range(10)]
    palette += [matplotlib.colors.to_hex(tab20(2 * k + 1)) for k in range(10)]
    styles: dict[str, tuple[str, str]] = {}
    k = 0
    for name in [*curves.members, *curves.held_out]:
        if name in styles:
            continue
        colour = palette[k % len(palette)]
        k += 1
        styles[name] = (colour, "-")
        twin = curves.twins.get(name)
        if twin is not None:
            styles[twin] = (colour, "--")
    return styles


def curves_figure(curves: Curves, path: Path) -> None:
    """curves.png: a column per agent; rows: score per opponent, flaw trigger rates and
    (with member games) top-1 agreement; 95% intervals shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    labels = list(dict.fromkeys(row.point.label for row in curves.rows))
    has_agreement = any(row.agreement for row in curves.rows)
    panels = ["score", "flaw fired", *(["top-1 agreement"] if has_agreement else [])]
    fig, axes = plt.subplots(
        len(panels),
        len(labels),
        figsize=(4.2 * len(labels) + 2.8, 2.9 * len(panels)),
        squeeze=False,
        sharey="row",
    )
    styles = _colours(curves)
    axis: Axis = "steps" if curves.x == "steps" else ("cpu" if curves.x == "cpu" else "minutes")

    def draw(
        ax: plt.Axes,
        rows: list[CurveRow],
        table: str,
        name: str,
        colour: str,
        style: str,
    ) -> None:
        points: list[tuple[float, Measured]] = []
        for row in rows:
            found: Mapping[str, Measured] = getattr(row, table)
            e, x = found.get(name), row.point.x(axis)
            if e is not None and x is not None and e.n > 0:
                points.append((x, e))
        if not points:
            return
        points.sort(key=lambda p: p[0])
        xs = [x for x, _ in points]
        # One game gives no interval (nan): shade nothing there.
        lows = [e.value if math.isnan(e.low) else e.low for _, e in points]
        highs = [e.value if math.isnan(e.high) else e.high for _, e in points]
        ax.plot(
            xs,
            [e.value for _, e in points],
            style,
            color=colour,
            marker="o",
            ms=4,
            # A twin's markers are hollow, so it reads apart from its flawed member even
            # where the two lines lie on each other.
            markerfacecolor="white" if style == "--" else colour,
            label=name,
        )
        ax.fill_between(xs, lows, highs, color=colour, alpha=0.12, linewidth=0)

    for column, label in enumerate(labels):
        rows = [row for row in curves.rows if row.point.label == label]
        ax = axes[0][column]
        for name, (colour, style) in styles.items():
            draw(ax, rows, "scores", name, colour, style)
        ax.axhline(0.5, color="grey", linewidth=0.7, linestyle=":")
        ax.set_title(f"{label} agent")
        ax = axes[1][column]
        for name, (colour, style) in styles.items():
            draw(ax, rows, "triggers", name, colour, style)
        if has_agreement:
            ax = axes[2][column]
            groups = {
                "all": ("black", "-"),
                "heuristics": ("#2ca02c", "-"),
                "engines": ("#d62728", "-"),
            }
            for group, (colour, style) in groups.items():
                draw(ax, rows, "agreement", group, colour, style)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="upper left")
        for k, panel in enumerate(panels):
            axes[k][column].set_ylim(-0.02, 1.02)
            axes[k][0].set_ylabel(panel)
            axes[k][column].xaxis.set_major_locator(MaxNLocator(nbins=4))
        axes[-1][column].set_xlabel(_X_LABELS[axis])
    games = max((e.n for row in curves.rows for e in row.scores.values()), default=0)
    fig.suptitle(
        "Score per opponent, flaw trigger rate and search top-1 agreement over training\n"
        f"(up to {games} games a point; shaded: 95% intervals)",
        fontsize=10,
    )
    handles, names = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            names,
            loc="center right",
            fontsize=7,
            handlelength=3.5,
            title="opponent (dashed, hollow: twin)",
        )
    fig.tight_layout(rect=(0, 0, 1 - 2.6 / (4.2 * len(labels) + 2.8), 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def exploitation_figure(curves: Curves, path: Path) -> bool:
    """exploitation.png: one panel for the pooled gap and one per twin pair; in each, one
    line per agent (score against the flawed member minus against its twin) over
    training, 95% intervals shaded; with contrasts, a last panel of `CONTRASTED`'s pooled
    gap minus each other agent's (the difference in differences). False (nothing
    written) without a twin pair."""
    pairs = list(curves.twins)
    if not pairs or not any(row.gaps for row in curves.rows):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crowdzero.analysis.study.report import AGENT_COLOURS

    axis: Axis = "steps" if curves.x == "steps" else ("cpu" if curves.x == "cpu" else "minutes")
    panels = ["pooled", *pairs, *(["contrast"] if curves.contrasts else [])]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.8 * len(panels), 3.4), squeeze=False, sharey=True
    )
    labels = list(dict.fromkeys(row.point.label for row in curves.rows))
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "contrast":
            _draw_contrasts(ax, curves, axis, AGENT_COLOURS)
            continue
        for label in labels:
            found: list[tuple[float, ClusteredEstimate]] = []
            for row in curves.rows:
                e = row.pooled_gap if panel == "pooled" else row.gaps.get(panel)
                x = row.point.x(axis)
                if row.point.label == label and e is not None and e.n > 0 and x is not None:
                    found.append((x, e))
            if not found:
                continue
            found.sort(key=lambda p: p[0])
            _line_with_band(ax, found, AGENT_COLOURS.get(label), label)
        ax.axhline(0.0, color="grey", linewidth=0.7, linestyle=":")
        ax.set_ylim(-1.02, 1.02)
        ax.set_title(
            f"pooled over {len(pairs)} pair{'s' if len(pairs) > 1 else ''}"
            if panel == "pooled"
            else f"{panel}\nminus {curves.twins[panel]}",
            fontsize=9,
        )
    fig.supxlabel(_X_LABELS[axis], fontsize=9)
    axes[0][0].set_ylabel("score vs flawed - score vs twin")
    # An agent may miss from a panel (a pooled gap needs an interval per pair): gather the
    # legend from all of them.
    legend: dict[str, object] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    if legend:
        axes[0][0].legend(
            list(legend.values()), list(legend), fontsize=8, loc="upper left", title="agent"
        )
    fig.suptitle(
        "Exploitation over training: how much more each agent scores against a flawed "
        "member than against its flaw-free twin\n(shaded: 95% intervals, Newcombe's for each "
        "pair)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _line_with_band(
    ax: Any, found: Sequence[tuple[float, ClusteredEstimate]], colour: str | None, label: str
) -> None:
    """One agent's line over training with its 95% interval shaded (none where unknown)."""
    xs = [x for x, _ in found]
    ax.plot(xs, [e.value for _, e in found], "-o", ms=4, color=colour, label=label)
    ax.fill_between(
        xs,
        [e.value if math.isnan(e.low) else e.low for _, e in found],
        [e.value if math.isnan(e.high) else e.high for _, e in found],
        color=colour,
        alpha=0.15,
        linewidth=0,
    )


def _draw_contrasts(ax: Any, curves: Curves, axis: Axis, colours: Mapping[str, str]) -> None:
    """The contrast panel of exploitation.png: one line per control, at the contrasted
    agent's x, in that control's colour of `colours`."""
    agent = curves.contrasts[0].agent
    x_of = {r.point.step: r.point.x(axis) for r in curves.rows if r.point.label == agent}
    for control in dict.fromkeys(c.control for c in curves.contrasts):
        found = [
            (x, c.estimate)
            for c in curves.contrasts
            if c.control == control and (x := x_of.get(c.agent_step)) is not None
        ]
        if found:
            _line_with_band(ax, found, colours.get(control), control)
    ax.axhline(0.0, color="grey", linewidth=0.7, linestyle=":")
    ax.set_title(f"{agent}'s pooled gap\nminus each control's", fontsize=9)
    if ax.get_legend_handles_labels()[0]:  # nothing drawn without the agent's x
        ax.legend(fontsize=8, loc="lower left", title="control")


def write_curves(curves: Curves, out_dir: Path) -> list[Path]:
    """curves.json, curves.md, curves.png and (with a twin pair) exploitation.png in
    `out_dir`; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data, text, figure = out_dir / "curves.json", out_dir / "curves.md", out_dir / "curves.png"
    data.write_text(plain_json(curves) + "\n")
    text.write_text(curves_markdown(curves))
    curves_figure(curves, figure)
    written = [data, text, figure]
    gaps = out_dir / EXPLOITATION_FIGURE
    if exploitation_figure(curves, gaps):
        written.append(gaps)
    else:
        gaps.unlink(missing_ok=True)  # an older run's figure would no longer match
    return written


def curves_main(
    settings: CurveSettings, on_progress: Callable[[str], None] = lambda text: None
) -> Curves:
    """Measure every point (resuming) and write curves.json, curves.md and curves.png."""
    curves = measure_curves(settings, on_progress)
    if not curves.rows:
        raise CurveError(_NOTHING_TO_DRAW.format(store=settings.out_dir / STORE_NAME))
    unplaced = [r.agent for r in curves.rows if r.point.x(settings.x) is None]
    if unplaced:
        note = (
            f"no {settings.x} known for {', '.join(unplaced)} (no metrics.csv row at its "
            "step): in the tables, not in the plot"
        )
        curves = dataclasses.replace(curves, notes=(*curves.notes, note))
    write_curves(curves, settings.out_dir)
    return curves


__all__ = [
    "AXES",
    "CONTRASTED",
    "EXPLOITATION_FIGURE",
    "WHICH",
    "CurveError",
    "CurvePlan",
    "CurvePoint",
    "CurveRow",
    "CurveSettings",
    "Curves",
    "GapContrast",
    "check_curves",
    "curves_figure",
    "curves_main",
    "curves_markdown",
    "every_kth",
    "exploitation_figure",
    "flaw_gaps",
    "gap_contrasts",
    "imitation_points",
    "measure_curves",
    "nearest_points",
    "run_points",
    "trigger_rates",
    "write_curves",
]

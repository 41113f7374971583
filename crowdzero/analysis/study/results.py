"""The study's results as frozen records, and their JSON form (results.json).

Everything the report shows and results.json holds is one `StudyResults`; the report is
drawn from it and nothing else, so the HTML, the PNGs, the terminal summary and the JSON
can never disagree. Keys of the inner dicts are agent labels ("crowd", "self",
"imitation", and "opponent-model" when the study includes it) and opponent or member
names as stored with the games.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdzero.analysis.inference import Estimate as ClusteredEstimate
from crowdzero.analysis.study.advice import AdviceResults
from crowdzero.analysis.study.imitation_agent import ImitationResult
from crowdzero.analysis.study.metrics import CalibrationBin, Estimate, Verdict
from crowdzero.analysis.study.twin_report import TwinEvidence
from crowdzero.analysis.study.twins import Decision, PrimaryClaim

AGENT_LABELS = ("crowd", "self", "imitation", "opponent-model")


@dataclass(frozen=True)
class AgentInfo:
    """One agent under study: where its weights came from and how it searches."""

    label: str
    name: str
    checkpoint: str
    step: int
    run: str
    simulations: int
    algorithm: str
    net: str


@dataclass(frozen=True)
class OutOfBox:
    """Moves no crowd member would play, and how the games that had them ended.

    `share` uses the members in `members` (the random movers are left out: they give every
    legal move the same probability, so with them nothing is ever out of the box);
    `share_all` adds them back, for the record.
    """

    share: Estimate
    share_all: Estimate
    with_novel: Estimate
    without_novel: Estimate
    members: tuple[str, ...]
    threshold: float
    games: int


@dataclass(frozen=True)
class ReferenceCheck:
    """KataGo's verdict on one agent's games (`crowdzero.analysis.study.reference`).

    `sound_share`: of the examined moves, those out of the box (no focused member would
    play them) that KataGo does not call a blunder: out-of-the-box *play*, as opposed to
    moves nobody would play because they are bad. `novel_blunders`: of the out-of-the-box
    moves, the share KataGo calls blunders; `usual_blunders`: the same for a random sample
    of the agent's other moves (as many, at most), the baseline to read it against.
    A blunder loses at least `blunder_points` of KataGo's score lead or `blunder_winrate`
    of its win probability. `adjudicated` games were stopped at the move cap and scored by
    KataGo's score lead instead of a count of the unfinished board; `flipped` of them
    changed winner by that.
    """

    sound_share: Estimate
    novel_blunders: Estimate
    usual_blunders: Estimate
    novel_points_lost: Estimate
    usual_points_lost: Estimate
    blunder_points: float
    blunder_winrate: float
    adjudicated: int
    flipped: int


@dataclass(frozen=True)
class ValueCheck:
    """The agent's value head and search root values against the real results."""

    curve: tuple[CalibrationBin, ...]
    brier: Estimate
    brier_by_opponent: dict[str, Estimate]
    brier_by_bucket: dict[str, Estimate]
    net_overrating_by_opponent: dict[str, Estimate]
    search_curve: tuple[CalibrationBin, ...]
    search_brier: Estimate
    search_overrating_by_opponent: dict[str, Estimate]
    # The value head at the positions the agent's moves lead to (the opponent to move):
    # the children its search evaluates. A crowd agent never trains there.
    reply_curve: tuple[CalibrationBin, ...] = ()
    reply_brier: Estimate | None = None
    reply_overrating_by_opponent: dict[str, Estimate] = field(default_factory=dict)
    # Outcome-free (primary claim 5): mean |P(win) before its move - P(win) after it| by
    # the value head, over the agent's moves that did not end the game, clustered by game
    # (`twins.value_consistency`).
    consistency: ClusteredEstimate | None = None


@dataclass(frozen=True)
class PrimaryResults:
    """The five primary claims of docs/study.md: claims 1-4 from the study's games
    (`twin_report.twin_claims`), claim 5 from the value heads, and beside claim 5 the
    Brier score per opponent stratum (exploratory). `decisions` (Holm over the five, then
    the verdict rule) are filled by `stages.compare`."""

    twins: TwinEvidence
    value_consistency: dict[str, ClusteredEstimate]
    brier_by_opponent: dict[str, dict[str, Estimate]]
    claims: tuple[PrimaryClaim, ...]
    notes: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()


@dataclass(frozen=True)
class Claim:
    """A sentence the data may or may not support, with the numbers behind the verdict."""

    topic: str
    text: str
    verdict: Verdict
    evidence: str


@dataclass(frozen=True)
class StudyMeta:
    """How the study was run: settings, commands, wall times, code version, notes."""

    created: str
    git_commit: str | None
    command: str
    settings: dict[str, Any]
    wall_seconds: dict[str, float]
    board_size: int
    games_played: int
    games_reused: int
    games_dropped: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudyResults:
    """Every number of the study (see docs/study.md for what each one means)."""

    meta: StudyMeta
    agents: dict[str, AgentInfo]
    imitation_training: ImitationResult | None
    members: tuple[str, ...]
    held_out: tuple[str, ...]
    imitation_top1: dict[str, dict[str, Estimate]]
    imitation_search_top1: dict[str, dict[str, Estimate]]
    imitation_log_likelihood: dict[str, dict[str, Estimate]]
    exploitation: dict[str, dict[str, Estimate]]
    transfer: dict[str, dict[str, Estimate]]
    out_of_box: dict[str, OutOfBox]
    flaws: dict[str, dict[str, Estimate]]
    values: dict[str, ValueCheck]
    claims: tuple[Claim, ...] = field(default=())
    #: KataGo's verdicts by agent label; empty when KataGo was not there to ask.
    reference: dict[str, ReferenceCheck] = field(default_factory=dict)
    #: Does the agent take advice? Measured when the crowd run's games carry advice.
    advice: AdviceResults | None = None
    #: The pre-registered primary claims (docs/study.md), measured and then judged.
    primary: PrimaryResults | None = None
    #: Top-1 agreement of each agent's real search with the members, on positions of
    #: member-vs-member games (`StudySettings.member_games`): by agent label, then member,
    #: "heuristics", "engines" and "all" (`agreement`); empty without member games.
    member_agreement: dict[str, dict[str, ClusteredEstimate]] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """JSON-ready copy: dataclasses as dicts, tuples as lists, NaN/inf as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def results_json(results: StudyResults) -> str:
    """results.json text: strict JSON (no NaN), keys in a stable order."""
    return plain_json(results)


def plain_json(record: Any) -> str:
    """Strict JSON (no NaN) of any of the study's records."""
    return json.dumps(_plain(record), indent=2, allow_nan=False)


class ResultsFormatError(ValueError):
    """results.json does not hold a study's results."""


def results_from_json(text: str) -> StudyResults:
    """The `StudyResults` a results.json holds, so the report can be drawn again without
    measuring anything (`crowdzero study-report`). The inverse of `results_json` up to
    what JSON keeps: numbers that were NaN or infinite come back as NaN."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsFormatError(f"not JSON: {error}") from error
    return typing.cast(StudyResults, _decode(StudyResults, data, "results"))


def _decode(kind: Any, value: Any, where: str) -> Any:
    """`value` (parsed JSON) as an instance of the type annotation `kind`."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return math.nan if float in args else None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _decode(options[0], value, where)
        return value
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, dict):
            raise ResultsFormatError(f"{where}: expected an object, got {type(value).__name__}")
        hints = typing.get_type_hints(kind)
        fields = {f.name: f for f in dataclasses.fields(kind)}
        unknown = set(value) - set(fields)
        if unknown:
            raise ResultsFormatError(f"{where}: unknown keys {sorted(unknown)}")
        found = {
            name: _decode(hints[name], value[name], f"{where}.{name}")
            for name in fields
            if name in value
        }
        try:
            return kind(**found)
        except TypeError as error:  # a required field is missing
            raise ResultsFormatError(f"{where}: {error}") from error
    if origin is dict:
        if not isinstance(value, dict):
            raise ResultsFormatError(f"{where}: expected an object, got {type(value).__name__}")
        key_kind, value_kind = args or (Any, Any)
        return {
            _decode(key_kind, k, where): _decode(value_kind, v, f"{where}[{k!r}]")
            for k, v in value.items()
        }
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise ResultsFormatError(f"{where}: expected a list, got {type(value).__name__}")
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            items = [
                _decode(args[0] if args else Any, v, f"{where}[{i}]") for i, v in enumerate(value)
            ]
        else:
            if len(args) != len(value):
                raise ResultsFormatError(f"{where}: expected {len(args)} items, got {len(value)}")
            items = [
                _decode(a, v, f"{where}[{i}]")
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            ]
        return items if origin is list else tuple(items)
    if kind is float:
        if value is None:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ResultsFormatError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
        if isinstance(value, str) and value.lstrip("-").isdigit():  # a dict key
            return int(value)
        raise ResultsFormatError(f"{where}: expected an integer, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise ResultsFormatError(f"{where}: expected text, got {value!r}")
    if kind is Path:
        return Path(value)
    return value

"""The study's stages, one function each, every one taking the `StudySettings` and the
records the stages before it returned:

    open_runs        settings                    -> StudyRuns
    train_baselines  settings, runs              -> Baselines (imitation agent, member models)
    field_agents     settings, runs, baselines   -> Lineup (a context: the agents close after)
    collect          settings, lineup            -> Evidence (the evaluation games)
    measure          settings, lineup, evidence  -> StudyResults, claims not yet judged
    compare          results                     -> StudyResults with the claims
    report           settings, results           -> index.html, PNGs, results.json, summary

Every record is frozen, and each stage's notes and wall times travel in its own record,
so a stage can be run, tested or replaced (issue #13 adds stages) without knowing what
the others keep. `cli_study.study_main` chains them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from crowdzero.analysis.inference import Estimate as ClusteredEstimate
from crowdzero.analysis.study.advice import AdviceResults, measure_advice, spread_checkpoints
from crowdzero.analysis.study.agreement import (
    member_vs_member,
    sample_member_game_positions,
    search_agreement,
)
from crowdzero.analysis.study.collect import (
    Fixture,
    MemberModels,
    StudyAgent,
    agent_moves,
    fixture_games,
    load_study_agent,
    play_fixtures,
    sample_member_positions,
)
from crowdzero.analysis.study.imitation_agent import ImitationResult, train_imitation
from crowdzero.analysis.study.measure import (
    ALL,
    box_moves,
    claims,
    flaw_rates,
    imitation_scores,
    member_distributions,
    out_of_box_summary,
    value_check,
    win_rates,
)
from crowdzero.analysis.study.metrics import Estimate
from crowdzero.analysis.study.opponent_modelling import (
    OPPONENT_MODEL_LABEL,
    MemberModelError,
    modelled_members,
    opponent_modelling_agent,
    train_opponent_model,
)
from crowdzero.analysis.study.reference import (
    Reference,
    adjudicate_games,
    open_reference,
    reference_check,
    reference_claims,
)
from crowdzero.analysis.study.report import print_summary, write_report
from crowdzero.analysis.study.results import (
    AgentInfo,
    OutOfBox,
    PrimaryResults,
    ReferenceCheck,
    StudyMeta,
    StudyResults,
    ValueCheck,
)
from crowdzero.analysis.study.settings import StudySettings
from crowdzero.analysis.study.twin_report import read_games, twin_claims
from crowdzero.analysis.study.twins import (
    PrimaryClaim,
    TwinError,
    consistency_claim,
    decide_primary,
    twin_pairs,
)
from crowdzero.net.evaluator import set_torch_threads
from crowdzero.play.player import Player
from crowdzero.play.record import Game
from crowdzero.players.checkpoint import resolve_checkpoint
from crowdzero.players.crowd import Crowd
from crowdzero.players.engines import EngineUnavailable
from crowdzero.players.flawed import flaw_of
from crowdzero.players.katago_reference import KataGoReferenceError
from crowdzero.players.registry import make_player
from crowdzero.players.spec import PlayerSpecError
from crowdzero.store.game_store import GameStore
from crowdzero.train.learner import LossReport
from crowdzero.train.run_dir import RunDir, RunDirError

#: Per-agent tables of estimates by opponent (or member) name, as `StudyResults` holds them.
Table = dict[str, dict[str, Estimate]]


class StudyError(RuntimeError):
    """The study cannot run as asked (a run missing, runs of different board sizes...)."""


# -- open the runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class StudyRuns:
    """The training runs under study, checked, with the checkpoints their agents load."""

    crowd: RunDir
    crowd_checkpoint: Path
    self_play: RunDir | None
    self_checkpoint: Path | None
    #: The crowd file the study plays against (the setting, else the crowd run's).
    crowd_spec: str
    #: `time.monotonic()` when the study began, for its total wall time.
    started: float


def open_runs(settings: StudySettings) -> StudyRuns:
    """The runs, or StudyError saying why the study cannot use them: a run missing or of
    the wrong mode, runs of different board sizes, a run without a checkpoint. Writes
    nothing, so `crowdzero study` calls it to refuse bad runs before any work."""
    started = time.monotonic()
    crowd = _open_run(settings.crowd_run, "crowd")
    self_play = _open_run(settings.self_run, "self") if settings.self_run is not None else None
    if self_play is not None and self_play.config.board.size != crowd.config.board.size:
        raise StudyError(
            f"{settings.crowd_run} and {settings.self_run} are runs on different board sizes"
        )
    return StudyRuns(
        crowd=crowd,
        crowd_checkpoint=_checkpoint(crowd),
        self_play=self_play,
        self_checkpoint=_checkpoint(self_play) if self_play is not None else None,
        crowd_spec=settings.crowd or crowd.config.train.crowd,
        started=started,
    )


def _open_run(path: Path, mode: str) -> RunDir:
    try:
        run = RunDir.open(path)
    except RunDirError as exc:
        raise StudyError(str(exc)) from exc
    if run.config.train.mode != mode:
        raise StudyError(f"{path} is a {run.config.train.mode}-mode run, not a {mode}-mode one")
    return run


def _checkpoint(run: RunDir) -> Path:
    try:
        return resolve_checkpoint(run.path)
    except PlayerSpecError as exc:
        raise StudyError(f"{run.path} has no usable checkpoint yet: {exc}") from exc


# -- train the baselines ---------------------------------------------------------------


@dataclass(frozen=True)
class Baselines:
    """The networks the study trains itself: the imitation agent and, with opponent
    modelling, a model of each heuristic member (by stored name)."""

    imitation: ImitationResult
    member_models: Mapping[str, Path]
    notes: tuple[str, ...]
    wall: Mapping[str, float]


def train_baselines(settings: StudySettings, runs: StudyRuns, console: Console) -> Baselines:
    """Train the imitation agent and the member models into the study's folder, or find
    them there from an earlier study."""
    out = settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    set_torch_threads(settings.threads)
    wall: dict[str, float] = {}
    notes: list[str] = []

    t = time.monotonic()
    console.print(f"[bold]imitation agent[/] ({out / 'imitation'})")
    imitation = train_imitation(
        runs.crowd, out / "imitation", settings.imitation_plan(), _print_every(console, 100)
    )
    wall["imitation_training"] = time.monotonic() - t
    if imitation.steps < imitation.target_steps:
        notes.append(
            f"the imitation agent stopped at {imitation.steps} of {imitation.target_steps} "
            f"steps (wall-time cap of {settings.minutes_imitation} minutes): less compute "
            "than the crowd agent"
        )

    models: dict[str, Path] = {}
    if settings.opponent_modelling:
        t = time.monotonic()
        console.print(f"[bold]opponent models[/] ({out / 'opponent-models'})")
        models, model_notes = _train_member_models(settings, runs)
        notes += model_notes
        wall["opponent_model_training"] = time.monotonic() - t
    return Baselines(imitation, models, tuple(notes), wall)


def _print_every(console: Console, every: int) -> Callable[[int, LossReport], None]:
    """Training progress for the terminal (and for a log when run under nohup)."""
    start = time.monotonic()

    def report(step: int, loss: LossReport) -> None:
        if step % every == 0:
            console.print(
                f"  step {step}: loss {loss.total:.3f} (policy {loss.policy:.3f}, "
                f"value {loss.value:.3f}), {time.monotonic() - start:.0f} s"
            )

    return report


def _train_member_models(
    settings: StudySettings, runs: StudyRuns
) -> tuple[dict[str, Path], list[str]]:
    """A learned model of each heuristic member with games in the crowd run's store
    (trained, or found from an earlier study), and the notes the report gives about them:
    a member without games is left out, not a reason to stop the study."""
    models: dict[str, Path] = {}
    notes: list[str] = []
    plan = settings.opponent_model_plan()
    with runs.crowd.open_store() as store:
        for member in modelled_members(runs.crowd_spec):
            try:
                models[member] = train_opponent_model(
                    store, member, runs.crowd.config, settings.out_dir / "opponent-models", plan
                )
            except MemberModelError as exc:
                notes.append(f"no opponent model of {member}: {exc}")
    if models:
        trained = ", ".join(
            f"{name} ({RunDir.checkpoint_step(path)} steps)" for name, path in models.items()
        )
        notes.append(
            f"the {OPPONENT_MODEL_LABEL} agent searches with learned models of {trained}; "
            "against anyone else it is the crowd agent"
        )
    else:
        notes.append(f"no member could be modelled: the {OPPONENT_MODEL_LABEL} agent is left out")
    return models, notes


# -- field the agents ------------------------------------------------------------------


@dataclass(frozen=True)
class Lineup:
    """The agents under study, by label ("crowd", "self", "imitation", "opponent-model"),
    each with the folder its weights came from, and what they were built on."""

    runs: StudyRuns
    baselines: Baselines
    agents: Mapping[str, StudyAgent]
    sources: Mapping[str, str]

    def infos(self) -> dict[str, AgentInfo]:
        return {
            label: AgentInfo(
                label=label,
                name=agent.name,
                checkpoint=str(agent.checkpoint),
                step=agent.step,
                run=self.sources[label],
                simulations=agent.search.simulations,
                algorithm=agent.search.algorithm,
                net=agent.evaluator.config.describe(),
            )
            for label, agent in self.agents.items()
        }


@contextmanager
def field_agents(
    settings: StudySettings, runs: StudyRuns, baselines: Baselines
) -> Iterator[Lineup]:
    """Load every agent, noise-free, each with its own seed; they are closed on leaving,
    also when one of them fails to load."""
    out, seed, threads = settings.out_dir, settings.seed, settings.threads
    search = runs.crowd.config.search
    agents: dict[str, StudyAgent] = {}
    sources: dict[str, str] = {}
    try:
        agents["crowd"] = load_study_agent(
            "crowd", runs.crowd_checkpoint, search, threads=threads, seed=seed
        )
        sources["crowd"] = str(runs.crowd.path)
        if runs.self_play is not None and runs.self_checkpoint is not None:
            agents["self"] = load_study_agent(
                "self",
                runs.self_checkpoint,
                runs.self_play.config.search,
                threads=threads,
                seed=seed + 1,
            )
            sources["self"] = str(runs.self_play.path)
        imitation = Path(baselines.imitation.checkpoint)
        agents["imitation"] = load_study_agent(
            "imitation", imitation, search, threads=threads, seed=seed + 2
        )
        sources["imitation"] = str(out / "imitation")
        if baselines.member_models:
            agents[OPPONENT_MODEL_LABEL] = opponent_modelling_agent(
                runs.crowd_checkpoint,
                baselines.member_models,
                search,
                threads=threads,
                seed=seed + 3,
            )
            sources[OPPONENT_MODEL_LABEL] = str(out / "opponent-models")
        yield Lineup(runs, baselines, agents, sources)
    finally:
        for agent in agents.values():
            agent.close()


# -- collect the games -----------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """The evaluation games, by agent label and then opponent name (crowd members,
    held-out opponents and, head to head, the other agents' names)."""

    #: The crowd members' and held-out opponents' names as their games carry them.
    members: tuple[str, ...]
    held_out: tuple[str, ...]
    #: The members' specs, to ask the members for their move distributions.
    member_specs: tuple[str, ...]
    games: Mapping[str, Mapping[str, tuple[Game, ...]]]
    played: int
    reused: int
    dropped: int
    notes: tuple[str, ...]
    wall: Mapping[str, float]


def collect(settings: StudySettings, lineup: Lineup, console: Console) -> Evidence:
    """Play what is missing of every pairing into OUT/games.sqlite and read every
    agent's study games back (an interrupted study resumes where it stopped)."""
    board_size = lineup.runs.crowd.config.board.size
    with Crowd.load(lineup.runs.crowd_spec, board_size=board_size) as crowd:
        notes = [f"crowd member {name} disabled: {why}" for name, why in crowd.disabled.items()]
        member_players = [crowd.player(name) for name in crowd.names]
        member_specs = tuple(crowd.member(name).spec for name in crowd.names)
        held_specs = crowd.held_out if settings.held_out is None else settings.held_out
        held_players = _held_out_players(held_specs, notes)
        members = tuple(player.name for player in member_players)
        held_out = tuple(player.name for player in held_players)
        try:
            t = time.monotonic()
            fixtures = _fixtures(settings, lineup, [*member_players, *held_players])
            path = settings.out_dir / "games.sqlite"
            console.print(
                f"[bold]evaluation games[/]: {len(fixtures)} pairings x {settings.games} "
                f"games -> {path}"
            )
            with GameStore(path) as store:
                played = itertools.count(1)

                def tick(game: Game) -> None:
                    done = next(played)
                    if done % 25 == 0:
                        console.print(f"  {done} games played")

                play_log = play_fixtures(
                    fixtures,
                    store,
                    lineup.runs.crowd.config.rules,
                    concurrency=settings.concurrency,
                    max_moves=lineup.runs.crowd.config.max_moves,
                    on_game=tick,
                )
                wall = {"games": time.monotonic() - t}
                games = _games_by_agent(settings, lineup, store, [*members, *held_out])
        finally:
            for player in held_players:
                player.close()
    notes += [f"dropped game: {reason}" for reason in play_log.dropped[:10]]
    return Evidence(
        members=members,
        held_out=held_out,
        member_specs=member_specs,
        games=games,
        played=play_log.played,
        reused=play_log.reused,
        dropped=len(play_log.dropped),
        notes=tuple(notes),
        wall=wall,
    )


def _held_out_players(specs: Sequence[str], notes: list[str]) -> list[Player]:
    """The held-out opponents that can play here; one that cannot (an engine not
    installed) is a note, not a reason to stop the study."""
    players = []
    for spec in specs:
        try:
            players.append(make_player(spec))
        except (EngineUnavailable, PlayerSpecError) as exc:
            notes.append(f"held-out opponent {spec} left out: {exc}")
    return players


def _fixtures(settings: StudySettings, lineup: Lineup, seats: Sequence[Player]) -> list[Fixture]:
    """Every agent against every seat, then (head to head) every pair of agents once."""
    agents = list(lineup.agents.values())
    fixtures = [Fixture(agent.player, seat, settings.games) for agent in agents for seat in seats]
    if settings.head_to_head:
        fixtures += [
            Fixture(a.player, b.player, settings.games, b_is_agent=True)
            for a, b in itertools.combinations(agents, 2)
        ]
    return fixtures


def _games_by_agent(
    settings: StudySettings, lineup: Lineup, store: GameStore, opponents: Sequence[str]
) -> dict[str, dict[str, tuple[Game, ...]]]:
    by_agent: dict[str, dict[str, tuple[Game, ...]]] = {}
    for label, agent in lineup.agents.items():
        rivals = [r.name for r in lineup.agents.values() if r is not agent]
        names = [*opponents, *rivals] if settings.head_to_head else list(opponents)
        by_agent[label] = {name: tuple(fixture_games(store, agent.name, name)) for name in names}
    return by_agent


# -- measure ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Imitation:
    """How often each agent plays the member's move, by agent label and member."""

    top1: Table
    search_top1: Table
    log_likelihood: Table
    notes: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class _Play:
    """What each agent's games say, by agent label."""

    exploitation: Table
    transfer: Table
    flaws: Table
    values: dict[str, ValueCheck]
    out_of_box: dict[str, OutOfBox]
    seconds: float
    reference: dict[str, ReferenceCheck]
    notes: tuple[str, ...]


#: Checkpoints of the crowd run the full study measures advice on (spread over training).
ADVICE_CHECKPOINTS = 4


def measure(
    settings: StudySettings, lineup: Lineup, evidence: Evidence, console: Console
) -> StudyResults:
    """Every number of the study, with the record of how it was run; the claims are
    left to `compare`. With KataGo at hand, the games stopped at the move cap are scored
    by it first, and it judges the out-of-the-box moves (`reference`)."""
    board_size = lineup.runs.crowd.config.board.size
    reference, reference_notes = open_reference(settings.katago_reference, board_size)
    adjudicated: dict[str, tuple[int, int]] = {}
    models = MemberModels(evidence.member_specs)
    try:
        if reference is not None:
            console.print("[bold]KataGo[/]: adjudicating the games stopped at the move cap")
            verdicts = adjudicate_games(evidence.games, reference)
            evidence = replace(evidence, games=verdicts.games)
            adjudicated = verdicts.counts
            reference_notes += verdicts.notes
        imitation = _measure_imitation(settings, lineup, models, console)
        play = _measure_play(settings, lineup, evidence, models, console, reference, adjudicated)
    finally:
        models.close()
        if reference is not None:
            reference.close()
    member_games = _member_games(settings)
    t = time.monotonic()
    agreement = _measure_agreement(settings, lineup, evidence, member_games, console)
    agreement_seconds = time.monotonic() - t
    primary = _measure_primary(evidence, play.values, member_games)
    baselines = lineup.baselines
    wall = {
        **baselines.wall,
        **evidence.wall,
        "imitation_measure": imitation.seconds,
        "measurements": play.seconds,
        **({"agreement": agreement_seconds} if member_games is not None else {}),
        "total": time.monotonic() - lineup.runs.started,
    }
    meta = StudyMeta(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        git_commit=_git_commit(),
        command=shlex.join(sys.argv),
        settings=settings.record(lineup.runs.crowd_spec, baselines.member_models),
        wall_seconds=wall,
        board_size=lineup.runs.crowd.config.board.size,
        games_played=evidence.played,
        games_reused=evidence.reused,
        games_dropped=evidence.dropped,
        notes=baselines.notes
        + evidence.notes
        + imitation.notes
        + tuple(reference_notes)
        + play.notes
        + primary.notes,
    )
    return StudyResults(
        meta=meta,
        agents=lineup.infos(),
        imitation_training=baselines.imitation,
        members=evidence.members,
        held_out=evidence.held_out,
        imitation_top1=imitation.top1,
        imitation_search_top1=imitation.search_top1,
        imitation_log_likelihood=imitation.log_likelihood,
        exploitation=play.exploitation,
        transfer=play.transfer,
        out_of_box=play.out_of_box,
        flaws=play.flaws,
        values=play.values,
        reference=play.reference,
        advice=_measure_advice(settings, lineup, console),
        primary=primary,
        member_agreement=agreement,
    )


def _member_games(settings: StudySettings) -> list[Game] | None:
    """The member-vs-member games of `settings.member_games`, None without the setting."""
    if settings.member_games is None:
        return None
    if not settings.member_games.is_file():
        raise StudyError(f"--member-games {settings.member_games} is not a file")
    return read_games(settings.member_games)


def _measure_agreement(
    settings: StudySettings,
    lineup: Lineup,
    evidence: Evidence,
    member_games: Sequence[Game] | None,
    console: Console,
) -> dict[str, dict[str, ClusteredEstimate]]:
    """Each agent's search against the members' moves on member-vs-member positions."""
    if member_games is None:
        return {}
    members = {*evidence.members, *evidence.member_specs}
    positions = sample_member_game_positions(
        member_vs_member(member_games, members), settings.agreement_positions, seed=settings.seed
    )
    console.print(f"[bold]search agreement[/]: {len(positions)} member-vs-member positions")
    return {
        label: search_agreement(agent, positions).by_group for label, agent in lineup.agents.items()
    }


def _measure_primary(
    evidence: Evidence, values: Mapping[str, ValueCheck], member_games: Sequence[Game] | None
) -> PrimaryResults:
    """Primary claims 1-4 from the study's games (each game once; adjudicated results
    where KataGo scored them) and claim 5 from the agents' value heads.

    Each stored game once, as `twin_report` reads the store: a head-to-head pairing's
    games sit in both agents' tables, so each pairing is taken from one side only. Two
    games with the same moves are two games (a deterministic agent meets a deterministic
    engine the same way twice), so games are never merged by their content."""
    pairings: set[frozenset[str]] = set()
    games: list[Game] = []
    for table in evidence.games.values():
        for played in table.values():
            sides = {name for game in played for name in (game.black, game.white)}
            if not played or frozenset(sides) in pairings:
                continue
            pairings.add(frozenset(sides))
            games.extend(played)
    notes: list[str] = []
    # The members as their games name them (a flawed member's name is its spec, which
    # `twin_pairs` checks); a spec with a seed ("random:1") plays as "random".
    members = list(evidence.members)
    try:
        twin_pairs(members, evidence.held_out)
    except TwinError as exc:
        notes.append(f"primary claims 1-2 have no twin pairs: {exc}")
        members = [name for name in members if flaw_of(name) is None]
    twins = twin_claims(games, members, evidence.held_out, member_games)
    consistency = {label: check.consistency for label, check in values.items() if check.consistency}
    if "crowd" in consistency and "self" in consistency:
        claim5 = consistency_claim(consistency["crowd"], consistency["self"])
    else:
        claim5 = PrimaryClaim("claim 5", "no value measurements", math.nan, math.nan, 0)
    return PrimaryResults(
        twins=twins,
        value_consistency=consistency,
        brier_by_opponent={label: dict(check.brier_by_opponent) for label, check in values.items()},
        claims=(*twins.claims, claim5),
        notes=tuple(notes),
    )


def _measure_advice(
    settings: StudySettings, lineup: Lineup, console: Console
) -> AdviceResults | None:
    """Does the crowd agent take advice? Only when its training games carry advice (a run
    with advisers in its crowd file); the twin comparison is `crowdzero study --advice`."""
    run = lineup.runs.crowd
    with run.open_store() as store:
        games = list(store.iter_games(source="train"))
    if not any(move.advice is not None for _, game in games for move in game.moves):
        return None
    console.print("[bold]advice[/]: follow, blank and effect per source")
    return measure_advice(
        run.name,
        games,
        spread_checkpoints(run.checkpoint_paths(), ADVICE_CHECKPOINTS),
        per_source=settings.positions,
        board_size=run.config.board.size,
        seed=settings.seed,
    )


def _measure_imitation(
    settings: StudySettings, lineup: Lineup, models: MemberModels, console: Console
) -> _Imitation:
    """Top-1 agreement and log-likelihood on member positions of held-out crowd games."""
    t = time.monotonic()
    console.print("[bold]imitation[/]: sampling crowd-member positions")
    with lineup.runs.crowd.open_store() as crowd_store:
        sampled = sample_member_positions(
            crowd_store.iter_games(),
            settings.positions,
            seed=settings.seed,
            holdout_every=settings.holdout_every,
        )
    notes: tuple[str, ...] = ()
    if len(sampled) < settings.positions:
        notes = (
            f"only {len(sampled)} member positions were available in the held-out crowd "
            f"games (asked for {settings.positions})",
        )
    distributions = member_distributions(sampled, models)
    top1: Table = {}
    search_top1: Table = {}
    loglik: Table = {}
    for label, agent in lineup.agents.items():
        top1[label], search_top1[label], loglik[label] = imitation_scores(
            agent, sampled, distributions, with_search=settings.search_choice, seed=settings.seed
        )
    return _Imitation(top1, search_top1, loglik, notes, time.monotonic() - t)


def _measure_play(
    settings: StudySettings,
    lineup: Lineup,
    evidence: Evidence,
    models: MemberModels,
    console: Console,
    reference: Reference | None = None,
    adjudicated: Mapping[str, tuple[int, int]] | None = None,
) -> _Play:
    """Exploitation, transfer, flaws, values and out-of-the-box play from the games, and
    with `reference`, KataGo's verdict on the out-of-the-box moves."""
    t = time.monotonic()
    console.print("[bold]exploitation, transfer, flaws, values, out-of-the-box[/]")
    members = evidence.members
    exploitation, transfer, flaws, values, boxes = {}, {}, {}, {}, {}
    checks: dict[str, ReferenceCheck] = {}
    notes: list[str] = []
    for label, agent in lineup.agents.items():
        table = evidence.games[label]
        against_members = {k: table[k] for k in members}
        exploitation[label] = win_rates(against_members, agent.name)
        others = {k: games for k, games in table.items() if k not in members}
        transfer[label] = {k: v for k, v in win_rates(others, agent.name).items() if k != ALL}
        flaws[label] = flaw_rates(against_members, agent.name)
        every_game = [g for games in table.values() for g in games]
        values[label] = value_check(agent, agent_moves(every_game, agent.name), seed=settings.seed)
        box = box_moves(
            [g for k in members for g in table[k]],
            agent.name,
            models,
            threshold=settings.threshold,
            max_games=settings.box_games,
            seed=settings.seed,
        )
        boxes[label] = out_of_box_summary(box)
        if reference is not None:
            console.print(
                f"  KataGo judges {int(box.novel.sum())} out-of-the-box moves of {agent.name}"
            )
            try:
                checks[label], check_notes = reference_check(
                    box,
                    reference,
                    settings.blunder_rule(),
                    adjudicated=(adjudicated or {}).get(label, (0, 0)),
                    seed=settings.seed,
                )
            except KataGoReferenceError as exc:
                check_notes = [f"KataGo kept failing, no verdicts: {exc}"]
            notes += [f"{label} agent: {note}" for note in check_notes]
    seconds = time.monotonic() - t
    return _Play(exploitation, transfer, flaws, values, boxes, seconds, checks, tuple(notes))


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


# -- compare and report ----------------------------------------------------------------


def compare(results: StudyResults) -> StudyResults:
    """`results` with the claims the intervals support or not (`measure.claims`), and
    the primary claims judged together (Holm, then the verdict rule)."""
    primary = results.primary
    if primary is not None:
        primary = replace(primary, decisions=tuple(decide_primary(primary.claims)))
    return replace(
        results, claims=tuple(claims(results) + reference_claims(results)), primary=primary
    )


def report(settings: StudySettings, results: StudyResults, console: Console) -> Path:
    """Write OUT/index.html, the figures and results.json, and summarise on the terminal;
    returns the page."""
    page = write_report(results, settings.out_dir)
    print_summary(results, console)
    console.print(f"report: [bold]{page}[/]")
    return page

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
3. the measurements (`measure`, `metrics`) and the report (`report`): `OUT/index.html`,
   `OUT/*.png`, `OUT/results.json` and a summary on the terminal.

See docs/study.md for what each number means and the caveats.
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from crowdzero.analysis.study import measure
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
from crowdzero.analysis.study.imitation_agent import (
    HOLDOUT_EVERY,
    ImitationResult,
    train_imitation,
)
from crowdzero.analysis.study.metrics import DEFAULT_THRESHOLD
from crowdzero.analysis.study.opponent_modelling import (
    DEFAULT_MODEL_STEPS,
    OPPONENT_MODEL_LABEL,
    MemberModelError,
    modelled_members,
    opponent_modelling_agent,
    train_opponent_model,
)
from crowdzero.analysis.study.report import print_summary, write_report
from crowdzero.analysis.study.results import AgentInfo, StudyMeta, StudyResults
from crowdzero.go.position import Rules
from crowdzero.net.evaluator import set_torch_threads
from crowdzero.play.player import Player
from crowdzero.play.record import Game
from crowdzero.players.checkpoint import resolve_checkpoint
from crowdzero.players.crowd import Crowd
from crowdzero.players.engines import EngineUnavailable
from crowdzero.players.registry import PlayerSpecError, make_player
from crowdzero.store.game_store import GameStore
from crowdzero.train.learner import LossReport
from crowdzero.train.run_dir import RunDir, RunDirError

log = logging.getLogger(__name__)


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


class StudyError(RuntimeError):
    """The study cannot run as asked (a run missing, runs of different board sizes...)."""


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


def _open_run(path: Path, mode: str) -> RunDir:
    try:
        run = RunDir.open(path)
    except RunDirError as exc:
        raise StudyError(str(exc)) from exc
    if run.config.train.mode != mode:
        raise StudyError(f"{path} is a {run.config.train.mode}-mode run, not a {mode}-mode one")
    return run


def _agent_info(agent: StudyAgent, run: str) -> AgentInfo:
    return AgentInfo(
        label=agent.label,
        name=agent.name,
        checkpoint=str(agent.checkpoint),
        step=agent.step,
        run=run,
        simulations=agent.search.simulations,
        algorithm=agent.search.algorithm,
        net=agent.evaluator.config.describe(),
    )


def study_main(
    crowd_run: str | Path,
    self_run: str | Path | None,
    out_dir: str | Path,
    games: int = 20,
    minutes_imitation: float | None = None,
    *,
    imitation_steps: int | None = None,
    positions: int = 400,
    search_choice: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
    box_games: int = 40,
    crowd: str | None = None,
    held_out: Sequence[str] | None = None,
    head_to_head: bool = True,
    holdout_every: int = HOLDOUT_EVERY,
    threads: int = 2,
    concurrency: int = 16,
    seed: int = 0,
    retrain_imitation: bool = False,
    opponent_modelling: bool = False,
    opponent_model_steps: int = DEFAULT_MODEL_STEPS,
    minutes_opponent_models: float | None = None,
    console: Console | None = None,
) -> StudyResults:
    """Run the whole study (see the module docstring); returns what the report shows.

    `crowd_run` must be a crowd-mode run directory, `self_run` a self-mode one (None
    leaves the self-play agent out). `crowd` overrides the crowd file the crowd run
    trained against, `held_out` its ``[study] held_out`` list. `minutes_imitation` caps
    the imitation agent's training time; its step count defaults to the crowd run's.
    `opponent_modelling` adds the ``opponent-model`` agent: the crowd agent's network
    with opponent-modelling search, one learned model per heuristic member, each trained
    for `opponent_model_steps` steps (or `minutes_opponent_models`, whichever is first).
    """
    console = console or Console(stderr=True)
    started = time.monotonic()
    wall: dict[str, float] = {}
    notes: list[str] = []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_torch_threads(threads)

    crowd_dir = _open_run(Path(crowd_run), "crowd")
    self_dir = _open_run(Path(self_run), "self") if self_run is not None else None
    cfg = crowd_dir.config
    if self_dir is not None and self_dir.config.board.size != cfg.board.size:
        raise StudyError(
            f"the crowd run is {cfg.board.size}x{cfg.board.size} but the self-play run is "
            f"{self_dir.config.board.size}x{self_dir.config.board.size}"
        )
    rules = cfg.rules

    # 1. agents ------------------------------------------------------------------------
    t = time.monotonic()
    console.print(f"[bold]imitation agent[/] ({out / 'imitation'})")
    imitation = train_imitation(
        crowd_dir,
        out / "imitation",
        steps=imitation_steps,
        minutes=minutes_imitation,
        seed=seed,
        threads=threads,
        holdout_every=holdout_every,
        retrain=retrain_imitation,
        on_step=_print_every(console, 100),
    )
    wall["imitation_training"] = time.monotonic() - t
    if imitation.steps < imitation.target_steps:
        notes.append(
            f"the imitation agent stopped at {imitation.steps} of {imitation.target_steps} "
            f"steps (wall-time cap of {minutes_imitation} minutes): less compute than the "
            "crowd agent"
        )

    member_models: dict[str, Path] = {}
    if opponent_modelling:
        t = time.monotonic()
        console.print(f"[bold]opponent models[/] ({out / 'opponent-models'})")
        member_models = _train_member_models(
            crowd_dir,
            out / "opponent-models",
            crowd or cfg.train.crowd,
            steps=opponent_model_steps,
            minutes=minutes_opponent_models,
            seed=seed,
            threads=threads,
            holdout_every=holdout_every,
            notes=notes,
        )
        wall["opponent_model_training"] = time.monotonic() - t

    agents: dict[str, StudyAgent] = {}
    runs: dict[str, str] = {}
    try:
        crowd_checkpoint = _checkpoint(crowd_dir)
        agents["crowd"] = load_study_agent(
            "crowd", crowd_checkpoint, cfg.search, threads=threads, seed=seed
        )
        runs["crowd"] = str(crowd_dir.path)
        if self_dir is not None:
            checkpoint = _checkpoint(self_dir)
            agents["self"] = load_study_agent(
                "self", checkpoint, self_dir.config.search, threads=threads, seed=seed + 1
            )
            runs["self"] = str(self_dir.path)
        agents["imitation"] = load_study_agent(
            "imitation", Path(imitation.checkpoint), cfg.search, threads=threads, seed=seed + 2
        )
        runs["imitation"] = str(out / "imitation")
        if member_models:
            agents[OPPONENT_MODEL_LABEL] = opponent_modelling_agent(
                crowd_checkpoint, member_models, cfg.search, threads=threads, seed=seed + 3
            )
            runs[OPPONENT_MODEL_LABEL] = str(out / "opponent-models")
        return _study(
            agents=agents,
            runs=runs,
            crowd_dir=crowd_dir,
            out=out,
            rules=rules,
            games=games,
            positions=positions,
            search_choice=search_choice,
            threshold=threshold,
            box_games=box_games,
            crowd_spec=crowd or cfg.train.crowd,
            held_out=held_out,
            head_to_head=head_to_head,
            holdout_every=holdout_every,
            concurrency=concurrency,
            seed=seed,
            imitation=imitation,
            wall=wall,
            notes=notes,
            started=started,
            console=console,
            settings={
                "crowd_run": str(crowd_run),
                "self_run": None if self_run is None else str(self_run),
                "out_dir": str(out),
                "games": games,
                "minutes_imitation": minutes_imitation,
                "imitation_steps": imitation_steps,
                "positions": positions,
                "search_choice": search_choice,
                "threshold": threshold,
                "box_games": box_games,
                "crowd": crowd or cfg.train.crowd,
                "held_out": None if held_out is None else list(held_out),
                "head_to_head": head_to_head,
                "holdout_every": holdout_every,
                "threads": threads,
                "concurrency": concurrency,
                "seed": seed,
                "opponent_modelling": opponent_modelling,
                "opponent_model_steps": opponent_model_steps,
                "minutes_opponent_models": minutes_opponent_models,
                "opponent_models": {name: str(path) for name, path in member_models.items()},
            },
        )
    finally:
        for agent in agents.values():
            agent.close()


def _checkpoint(run: RunDir) -> Path:
    try:
        return resolve_checkpoint(run.path)
    except PlayerSpecError as exc:
        raise StudyError(f"{run.path} has no usable checkpoint yet: {exc}") from exc


def _train_member_models(
    crowd_dir: RunDir,
    out_dir: Path,
    crowd_spec: str,
    *,
    steps: int,
    minutes: float | None,
    seed: int,
    threads: int,
    holdout_every: int,
    notes: list[str],
) -> dict[str, Path]:
    """A learned model of each heuristic member with games in the crowd run's store
    (trained, or found from an earlier study); members without games get a note."""
    cfg = crowd_dir.config
    models: dict[str, Path] = {}
    with crowd_dir.open_store() as store:
        for member in modelled_members(crowd_spec):
            try:
                models[member] = train_opponent_model(
                    store,
                    member,
                    cfg.net,
                    out_dir,
                    steps=steps,
                    minutes=minutes,
                    train=cfg.train,
                    seed=seed,
                    threads=threads,
                    holdout_every=holdout_every,
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
    return models


def _held_out_players(specs: Sequence[str], notes: list[str]) -> list[Player]:
    players = []
    for spec in specs:
        try:
            players.append(make_player(spec))
        except (EngineUnavailable, PlayerSpecError) as exc:
            notes.append(f"held-out opponent {spec} left out: {exc}")
    return players


def _study(
    *,
    agents: dict[str, StudyAgent],
    runs: dict[str, str],
    crowd_dir: RunDir,
    out: Path,
    rules: Rules,
    games: int,
    positions: int,
    search_choice: bool,
    threshold: float,
    box_games: int,
    crowd_spec: str,
    held_out: Sequence[str] | None,
    head_to_head: bool,
    holdout_every: int,
    concurrency: int,
    seed: int,
    imitation: ImitationResult,
    wall: dict[str, float],
    notes: list[str],
    started: float,
    console: Console,
    settings: dict[str, object],
) -> StudyResults:
    cfg = crowd_dir.config
    with Crowd.load(crowd_spec) as the_crowd:
        notes += [
            f"crowd member {name} disabled: {why}" for name, why in the_crowd.disabled.items()
        ]
        member_players = {name: the_crowd.player(name) for name in the_crowd.names}
        member_specs = [the_crowd.member(name).spec for name in the_crowd.names]
        held_specs = list(the_crowd.held_out if held_out is None else held_out)
        held_players = _held_out_players(held_specs, notes)
        members = tuple(player.name for player in member_players.values())
        held_names = tuple(player.name for player in held_players)
        models = MemberModels(member_specs)
        try:
            # 2. evaluation games ---------------------------------------------------
            t = time.monotonic()
            fixtures: list[Fixture] = []
            for agent in agents.values():
                for seat in [*member_players.values(), *held_players]:
                    fixtures.append(Fixture(agent.player, seat, games))
            labels = list(agents)
            if head_to_head:
                for i, a in enumerate(labels):
                    for b in labels[i + 1 :]:
                        fixtures.append(
                            Fixture(agents[a].player, agents[b].player, games, b_is_agent=True)
                        )
            console.print(
                f"[bold]evaluation games[/]: {len(fixtures)} pairings x {games} games "
                f"-> {out / 'games.sqlite'}"
            )
            with GameStore(out / "games.sqlite") as store:
                done = [0]

                def tick(game: Game) -> None:
                    done[0] += 1
                    if done[0] % 25 == 0:
                        console.print(f"  {done[0]} games played")

                play_log = play_fixtures(
                    fixtures,
                    store,
                    rules,
                    concurrency=concurrency,
                    max_moves=cfg.max_moves,
                    on_game=tick,
                )
                wall["games"] = time.monotonic() - t
                for reason in play_log.dropped[:10]:
                    notes.append(f"dropped game: {reason}")
                by_agent: dict[str, dict[str, list[Game]]] = {}
                for label, agent in agents.items():
                    table: dict[str, list[Game]] = {}
                    for name in [*members, *held_names]:
                        table[name] = fixture_games(store, agent.name, name)
                    for rival in agents.values():
                        if rival is not agent and head_to_head:
                            table[rival.name] = fixture_games(store, agent.name, rival.name)
                    by_agent[label] = table

            # 3. measurements -------------------------------------------------------
            t = time.monotonic()
            console.print("[bold]imitation[/]: sampling crowd-member positions")
            with crowd_dir.open_store() as crowd_store:
                sampled = sample_member_positions(
                    crowd_store.iter_games(), positions, seed=seed, holdout_every=holdout_every
                )
            if len(sampled) < positions:
                notes.append(
                    f"only {len(sampled)} member positions were available in the held-out "
                    f"crowd games (asked for {positions})"
                )
            distributions = measure.member_distributions(sampled, models)
            top1, search_top1, loglik = {}, {}, {}
            for label, agent in agents.items():
                top1[label], search_top1[label], loglik[label] = measure.imitation_scores(
                    agent, sampled, distributions, with_search=search_choice, seed=seed
                )
            wall["imitation_measure"] = time.monotonic() - t

            t = time.monotonic()
            console.print("[bold]exploitation, transfer, flaws, values, out-of-the-box[/]")
            exploitation, transfer, flaws, values, boxes = {}, {}, {}, {}, {}
            for label, agent in agents.items():
                table = by_agent[label]
                exploitation[label] = measure.win_rates({k: table[k] for k in members}, agent.name)
                transfer[label] = {
                    k: v
                    for k, v in measure.win_rates(
                        {k: g for k, g in table.items() if k not in members}, agent.name
                    ).items()
                    if k != measure.ALL
                }
                flaws[label] = measure.flaw_rates({k: table[k] for k in members}, agent.name)
                all_games = [g for games_ in table.values() for g in games_]
                values[label] = measure.value_check(
                    agent, agent_moves(all_games, agent.name), seed=seed
                )
                crowd_games = [g for k in members for g in table[k]]
                boxes[label] = measure.out_of_box_check(
                    crowd_games,
                    agent.name,
                    models,
                    threshold=threshold,
                    max_games=box_games,
                    seed=seed,
                )
            wall["measurements"] = time.monotonic() - t
        finally:
            models.close()
            for player in held_players:
                player.close()

    names = {label: agent.name for label, agent in agents.items()}
    claims = measure.claims(
        members=members,
        held_out=held_names,
        top1=top1,
        exploitation=exploitation,
        transfer=transfer,
        out_of_box=boxes,
        flaws=flaws,
        values=values,
        agent_names=names,
    )
    wall["total"] = time.monotonic() - started
    results = StudyResults(
        meta=StudyMeta(
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            git_commit=_git_commit(),
            command=shlex.join(sys.argv),
            settings=settings,
            wall_seconds=wall,
            board_size=rules.size,
            games_played=play_log.played,
            games_reused=play_log.reused,
            games_dropped=len(play_log.dropped),
            notes=tuple(notes),
        ),
        agents={label: _agent_info(agent, runs[label]) for label, agent in agents.items()},
        imitation_training=imitation,
        members=members,
        held_out=held_names,
        imitation_top1=top1,
        imitation_search_top1=search_top1,
        imitation_log_likelihood=loglik,
        exploitation=exploitation,
        transfer=transfer,
        out_of_box=boxes,
        flaws=flaws,
        values=values,
        claims=tuple(claims),
    )
    write_report(results, out)
    print_summary(results, console)
    console.print(f"report: [bold]{out / 'index.html'}[/]")
    return results

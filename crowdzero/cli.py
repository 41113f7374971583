"""`crowdzero <command>`: the one entry point.

The CLI only parses and overrides; every default lives in the typed config
(`crowdzero/train/config.py`), and every command's work lives in its package.
Heavy imports (torch, numba kernels) happen inside the commands so `--help` is instant.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

try:  # typer 0.2x parses with its own copy of click, whose exceptions these are
    from typer._click.core import Context
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # older typer uses click itself
    from click import Context, UsageError  # type: ignore[assignment]
    from click.exceptions import NoArgsIsHelpError  # type: ignore[assignment]

if TYPE_CHECKING:
    from crowdzero.train.config import RunConfig

console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` as the one line of a refusal; the exit to raise."""
    line = " ".join(message.split())  # whatever the error held, one line
    console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


@contextlib.contextmanager
def _usage_in_one_line() -> Iterator[None]:
    """A usage error (unknown option, a value of the wrong type, a missing argument) as
    one line like every other refusal, instead of click's usage box."""
    try:
        yield
    except UsageError as exc:
        if isinstance(exc, NoArgsIsHelpError):
            raise  # `crowdzero` alone: the help, as asked for
        where = exc.ctx.command_path if exc.ctx is not None else "crowdzero"
        raise _fail(f"{exc.format_message()} (see {where} --help)", exc.exit_code) from None


class _Commands(TyperGroup):
    """The command group, with usage errors in one line (both the group's own and those
    of each command, which are parsed inside the group's invoke)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        with _usage_in_one_line():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Context) -> Any:
        with _usage_in_one_line():
            return super().invoke(ctx)


app = typer.Typer(
    name="crowdzero",
    help="AlphaZero-style Go that learns from a crowd of opponents instead of itself.",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


#: Exceptions that say in their message what is wrong with the user's input, files or
#: disk, by (module, class). Looked up in sys.modules: a module never imported cannot
#: have raised its error, and `--help` stays free of torch.
_USER_ERRORS = (
    ("crowdzero.train.config", "ConfigError"),
    ("crowdzero.train.run_dir", "RunDirError"),
    ("crowdzero.store.game_store", "StoreError"),
    ("crowdzero.players.crowd", "CrowdError"),
    ("crowdzero.players.registry", "PlayerSpecError"),
    ("crowdzero.players.engines", "EngineUnavailable"),
    ("crowdzero.net.checkpoint", "CheckpointError"),
    ("crowdzero.go.errors", "SgfError"),
    ("crowdzero.web.app", "ServeError"),
    ("crowdzero.analysis.study.stages", "StudyError"),
    ("crowdzero.analysis.study.curves", "CurveError"),
    ("crowdzero.train.ray_workers", "WorkersUnavailable"),
)

#: What reading a config can raise besides ConfigError, when a value is out of reach: an
#: integer past float range or with more digits than Python reads (the message says
#: which). Described in one line where configs are read.
_CONFIG_VALUE_ERRORS: tuple[type[Exception], ...] = (ValueError, OverflowError)

#: What to do about an OSError, by errno.
_DISK_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space",
    errno.EDQUOT: "the disk quota is used up; free some space",
    errno.EFBIG: "the file grew past the size limit (ulimit -f)",
    errno.EROFS: "the file system is read-only; use a writable folder",
    errno.EACCES: "permission denied; use a folder you may write to",
    errno.EPERM: "the operation is not permitted on this file",
    errno.EIO: "the disk reported an I/O error",
}


def _describe_error(exc: BaseException, also: tuple[type[Exception], ...] = ()) -> str | None:
    """One line for an error the user can act on, else None (a bug: let it show).

    An error raised while handling one of those (torch turns a full disk into a
    RuntimeError about its zip writer) is described by the one it hides.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        message = _describe_one(cause, also)
        if message is not None:
            return message
        cause = cause.__cause__ or cause.__context__
    return None


def _describe_one(exc: BaseException, also: tuple[type[Exception], ...]) -> str | None:
    import sqlite3

    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        advice = _DISK_ADVICE.get(exc.errno or 0)
        reason = exc.strerror or str(exc)
        return f"{where}{reason}" + (f" ({advice})" if advice else "")
    if isinstance(exc, sqlite3.Error):
        return f"the game store failed: {exc} (check the run folder is writable and has space)"
    if isinstance(exc, also):
        return str(exc)
    for module_name, class_name in _USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return str(exc)
    return None


@contextlib.contextmanager
def _one_line_errors(
    after: str | Callable[[], str] = "", also: tuple[type[Exception], ...] = ()
) -> Iterator[None]:
    """Turn an error the user can act on (or of a type in `also`) into one line on
    stderr and exit code 2; `after` (or what it returns) is appended: what still holds,
    how to go on."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        message = _describe_error(exc, also)
        if message is None:
            raise
        tail = after() if callable(after) else after
        raise _fail(message + (f". {tail}" if tail else "")) from None


@app.command()
def train(
    mode: Annotated[
        str | None, typer.Option(help="crowd (no self-play) or self (traditional AlphaZero).")
    ] = None,
    crowd: Annotated[
        str | None, typer.Option(help="Crowd TOML file, or 'default' for the built-in crowd.")
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option(help="Run directory; reused (resumed) if it already holds a run."),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Resume the run in this directory (it must exist).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML config for a new run (see `crowdzero config`).")
    ] = None,
    board_size: Annotated[int | None, typer.Option(help="Board size (new runs only).")] = None,
    minutes: Annotated[float | None, typer.Option(help="Stop after this many minutes.")] = None,
    games: Annotated[
        int | None, typer.Option(help="Stop once the run's store holds this many games.")
    ] = None,
    simulations: Annotated[int | None, typer.Option(help="Search simulations per move.")] = None,
    concurrent_games: Annotated[int | None, typer.Option(help="Games played at once.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any config key: --set search.algorithm=puct."),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No live panel; log lines only.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Play games in this many Ray workers (learner and store stay here); "
            "see docs/cluster.md. Not given: one process, no Ray."
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster for the workers (auto, HOST:6379); default: this machine."),
    ] = None,
) -> None:
    """Train an agent: crowd mode on 9x9 with the default crowd unless told otherwise.

    With no arguments it starts (or, if it exists, continues) `runs/<mode>-9x9` in the
    current folder. Ctrl-C stops cleanly after writing a checkpoint; after any crash,
    the same command (or --resume) continues from the last checkpoint.
    """
    from crowdzero.train.run_dir import RunDir

    if ray_address is not None and workers is None:
        raise _fail("--ray-address needs --workers N")
    if workers is not None and workers < 1:
        raise _fail(f"--workers must be at least 1, not {workers}")
    overrides: dict[str, Any] = {}
    if mode is not None:
        overrides["train.mode"] = mode
    if crowd is not None:
        overrides["train.crowd"] = crowd
    if minutes is not None:
        overrides["train.minutes"] = minutes
    if games is not None:
        overrides["train.games"] = games
    if simulations is not None:
        overrides["search.simulations"] = simulations
    if concurrent_games is not None:
        overrides["train.concurrent_games"] = concurrent_games
    for item in set_ or []:
        key, eq, value = item.partition("=")
        if not eq:
            raise _fail(f"--set wants KEY=VALUE, got {item!r}")
        overrides[key.strip()] = _parse_value(key.strip(), value.strip())
    if isinstance(overrides.get("train.crowd"), str):
        overrides["train.crowd"] = _absolute_crowd(overrides["train.crowd"], Path.cwd())

    with _one_line_errors(also=_CONFIG_VALUE_ERRORS):
        if resume is not None and not _is_run(resume):
            raise _fail(f"{resume} holds no run to resume (no config.toml)")
        explicit = resume or run
        target = explicit
        new_cfg: RunConfig | None = None
        if target is None:
            # No run named: runs/<mode>-<N>x<N> here, started or continued. Resuming it
            # goes through the same path as --run, so the options given still apply.
            new_cfg = _new_config(config, board_size, overrides)
            size = new_cfg.board.size
            target = Path("runs") / f"{new_cfg.train.mode}-{size}x{size}"
        if _is_run(target):
            if config is not None or (board_size is not None and explicit is not None):
                console.print(
                    "[yellow]note:[/] resuming an existing run; --board-size/--config "
                    "apply to new runs only",
                    soft_wrap=True,
                )
            run_dir = RunDir.open(target)
            # Resuming keeps the run's config; only the knobs that do not change what
            # the run is may be overridden (time budget, simulations are the user's).
            cfg = _resume_config(run_dir.config, overrides, target)
            _check_config(cfg)
            _check_crowd(cfg)
            run_dir = RunDir(run_dir.path, cfg)
            _check_writable(run_dir.path)
            started = f"resuming [bold]{escape(str(target))}[/]"
        else:
            cfg = new_cfg or _new_config(config, board_size, overrides)
            _check_config(cfg)
            _check_crowd(cfg)  # before the run exists: no run is left with a crowd it cannot use
            run_dir = RunDir.create(target, cfg)
            started = f"new run [bold]{escape(str(target))}[/]"

    from crowdzero.train.game_source import WorkerSettings
    from crowdzero.train.progress import progress_panel
    from crowdzero.train.training_run import TrainingRun

    settings = None if workers is None else WorkerSettings(workers, address=ray_address)

    with _one_line_errors():
        lock = run_dir.lock()
        _setup_logging(run_dir.log_path, quiet)
    after = (
        f"Every finished game is stored; once that is fixed, continue with: "
        f"crowdzero train --resume {run_dir.path}"
    )
    with lock:
        with _one_line_errors():
            training = TrainingRun(run_dir, workers=settings)
        console.print(started)
        with _one_line_errors(after):
            if quiet:
                reason = training.run()
            else:
                from rich.live import Live

                try:
                    with Live(
                        progress_panel(training), console=console, refresh_per_second=2
                    ) as live:
                        reason = training.run(on_progress=lambda r: live.update(progress_panel(r)))
                finally:
                    if not console.is_terminal:
                        console.line()  # the last frame ends without one
    console.print(
        escape(f"stopped: {reason}. Resume with: crowdzero train --resume {run_dir.path}"),
        soft_wrap=True,
    )


@app.command()
def gtp(
    player: Annotated[
        str,
        typer.Option(
            help="Who plays: random, random-noeye, heuristic:greedy, mcts:400, gnugo:5, "
            "pachi:1000, katago:1, flawed:pass-back:gnugo:3, checkpoint:PATH ..."
        ),
    ] = "random",
    size: Annotated[
        int | None,
        typer.Option(help="Initial board size (default 9, or the network's own size)."),
    ] = None,
    komi: Annotated[float, typer.Option(help="Initial komi.")] = 7.5,
) -> None:
    """Serve a player over GTP v2 on stdin/stdout (load it in Sabaki or GoGui)."""
    from crowdzero.players.gtp_engine import gtp_main

    raise typer.Exit(gtp_main(player, size=size, komi=komi))


@app.command()
def serve(
    run: Annotated[Path, typer.Argument(help="Run directory whose agent people play.")],
    host: Annotated[str, typer.Option(help="Address to bind; loopback unless you choose.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Proxies (comma separated IPs) whose X-Forwarded-For names the client; "
            "by default the header is ignored."
        ),
    ] = None,
) -> None:
    """Serve the web page where people play the run's latest agent; their games train it."""
    from crowdzero.web.app import serve_main

    with _one_line_errors():
        serve_main(run, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips)


@app.command()
def ratings(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
) -> None:
    """Bradley-Terry ratings (GnuGo 10 = 1800) and the agent's win-rate matrix."""
    from crowdzero.analysis.ratings import ratings_main
    from crowdzero.train.run_dir import RunDir

    with _one_line_errors():
        run_dir = RunDir.open(run)
        if not run_dir.games_path.exists():
            raise _fail(f"{run} has no games yet; nothing to rate")
        code = ratings_main(run, errors=console)
    raise typer.Exit(code)


@app.command()
def study(
    crowd: Annotated[Path, typer.Option("--crowd", help="Crowd-mode run directory.")],
    self_run: Annotated[
        Path | None, typer.Option("--self", help="Self-play run directory (optional).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for index.html, results.json, PNGs.")] = Path(
        "study"
    ),
    games: Annotated[int, typer.Option(help="Games per agent per opponent.")] = 20,
    minutes_imitation: Annotated[
        float | None, typer.Option(help="Cap on the imitation agent's training minutes.")
    ] = None,
    positions: Annotated[
        int,
        typer.Option(
            help="Crowd positions for the imitation test (with --advice: advised positions "
            "per source)."
        ),
    ] = 400,
    concurrency: Annotated[int, typer.Option(help="Games played at once.")] = 16,
    seed: Annotated[int, typer.Option(help="Seed for sampling and play.")] = 0,
    opponent_modelling: Annotated[
        bool,
        typer.Option(help="Add a fourth agent that searches with learned models of members."),
    ] = False,
    katago: Annotated[
        bool,
        typer.Option(
            help="Ask KataGo, when installed, to judge out-of-the-box moves (blunder or not) "
            "and to score games stopped at the move cap."
        ),
    ] = True,
    advice: Annotated[
        bool,
        typer.Option(
            help="Measure only whether the --crowd run's agent takes advice, per source "
            "(OUT/advice.md, OUT/advice.json); see docs/study.md."
        ),
    ] = False,
    advice_twin: Annotated[
        Path | None,
        typer.Option(help="With --advice: the twin run trained with advice always blank."),
    ] = None,
    advice_checkpoints: Annotated[
        int, typer.Option(help="With --advice: checkpoints measured, spread over training.")
    ] = 4,
    advice_simulations: Annotated[
        int, typer.Option(help="With --advice: search simulations per position (0: raw only).")
    ] = 32,
    imitation_snapshot_every: Annotated[
        int,
        typer.Option(
            help="Keep the imitation agent's weights every N steps in OUT/imitation/snapshots/ "
            "(0: none), for `crowdzero study-curves --imitation OUT/imitation`."
        ),
    ] = 0,
    member_games: Annotated[
        Path | None,
        typer.Option(
            help="Member-vs-member games (.sqlite or the .jsonl.gz of "
            "scripts/record_twin_games.py): each agent's search is scored on their "
            "positions (top-1 agreement), and claim 3 checks the crowd never shows the exploit."
        ),
    ] = None,
) -> None:
    """What did the crowd-trained agent learn? Imitation, exploitation, transfer, flaws,
    out-of-the-box play and value calibration, against self-play and imitation agents;
    with --advice, whether it takes advice."""
    from crowdzero.analysis.study.cli_study import study_main
    from crowdzero.analysis.study.settings import StudySettings
    from crowdzero.analysis.study.stages import open_runs

    if advice:
        with _one_line_errors():
            _study_advice(
                crowd, out, advice_twin, advice_checkpoints, advice_simulations, positions, seed
            )
        return
    with _one_line_errors():
        # Everything that can be checked before the study writes anything or trains its
        # imitation agent (which takes a while).
        counts = (("--games", games), ("--positions", positions), ("--concurrency", concurrency))
        for option, value in counts:
            if value < 1:
                raise _fail(f"{option} must be at least 1, not {value}")
        if seed < 0:
            raise _fail(f"--seed must be 0 or more, not {seed}")
        if minutes_imitation is not None and not (
            math.isfinite(minutes_imitation) and minutes_imitation > 0
        ):
            raise _fail(f"--minutes-imitation must be a positive number, not {minutes_imitation}")
        if out.exists() and not out.is_dir():
            raise _fail(f"--out {out} is a file, not a folder")
        if imitation_snapshot_every < 0:
            raise _fail(
                f"--imitation-snapshot-every must be 0 or more, not {imitation_snapshot_every}"
            )
        if member_games is not None and not member_games.is_file():
            raise _fail(f"--member-games {member_games} is not a file")
        settings = StudySettings(
            crowd_run=crowd,
            self_run=self_run,
            out_dir=out,
            games=games,
            minutes_imitation=minutes_imitation,
            positions=positions,
            concurrency=concurrency,
            seed=seed,
            opponent_modelling=opponent_modelling,
            katago_reference=katago,
            member_games=member_games,
            imitation_snapshot_every=imitation_snapshot_every,
        )
        open_runs(settings)  # the runs are usable (StudyError), before anything is written
    with _one_line_errors():
        study_main(settings, console)


def _study_advice(
    run: Path,
    out: Path,
    twin: Path | None,
    checkpoints: int,
    simulations: int,
    positions: int,
    seed: int,
) -> None:
    from crowdzero.analysis.study.advice import advice_table, study_advice
    from crowdzero.analysis.study.report import write_advice

    for option, value in (("--advice-checkpoints", checkpoints), ("--positions", positions)):
        if value < 1:
            raise _fail(f"{option} must be at least 1, not {value}")
    if simulations < 0:
        raise _fail(f"--advice-simulations must be 0 or more, not {simulations}")
    for path in (run, twin):
        if path is not None and not _is_run(path):
            raise _fail(f"{path} is not a crowdzero run (no config.toml)")
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out} is a file, not a folder")
    results = study_advice(
        run,
        twin=twin,
        checkpoints=checkpoints,
        simulations=simulations,
        per_source=positions,
        seed=seed,
    )
    text, data = write_advice(results, out)
    console.print("\n".join(advice_table(results)), markup=False)
    console.print(f"wrote {text} and {data}")


@app.command("study-report")
def study_report(
    out: Annotated[Path, typer.Argument(help="A study's folder (holds results.json).")],
) -> None:
    """Draw a study's index.html and figures again from its results.json alone: no games,
    searches or networks (for a report whose drawing code changed after the run)."""
    from crowdzero.analysis.study.report import print_summary, write_report
    from crowdzero.analysis.study.results import ResultsFormatError, results_from_json

    path = out / "results.json"
    if not path.is_file():
        raise _fail(f"{path} does not exist: run `crowdzero study --out {out}` first")
    with _one_line_errors(also=(ResultsFormatError,)):
        try:
            results = results_from_json(path.read_text(encoding="utf-8"))
        except ResultsFormatError as error:
            raise ResultsFormatError(f"{path}: {error}") from None
        page = write_report(results, out)
    print_summary(results, console)
    console.print(f"report: [bold]{page}[/]")


@app.command("study-curves")
def study_curves(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(help="Training runs (crowd and/or self mode), every checkpoint each."),
    ] = None,
    imitation: Annotated[
        Path | None,
        typer.Option(help="The imitation agent's folder (a study's OUT/imitation)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for curves.md/.json/.png and games.")] = Path(
        "curves"
    ),
    games: Annotated[int, typer.Option(help="Games per checkpoint and opponent.")] = 20,
    every: Annotated[
        int, typer.Option(help="Every Nth checkpoint of each agent, counting back from the newest.")
    ] = 1,
    points: Annotated[
        str,
        typer.Option(help="A run's points: all (marks and checkpoints), marks or checkpoints."),
    ] = "all",
    crowd: Annotated[
        str | None,
        typer.Option(help="Crowd file to play against (default: the crowd run's)."),
    ] = None,
    member_games: Annotated[
        Path | None,
        typer.Option(
            help="Member-vs-member games (.sqlite or .jsonl.gz of "
            "scripts/record_twin_games.py) for the search's top-1 agreement."
        ),
    ] = None,
    positions: Annotated[
        int, typer.Option(help="Member positions searched per checkpoint for the agreement.")
    ] = 200,
    x: Annotated[
        str, typer.Option(help="x axis of curves.png: minutes, steps or cpu (CPU-seconds).")
    ] = "minutes",
    concurrency: Annotated[int, typer.Option(help="Games played at once.")] = 16,
    threads: Annotated[int, typer.Option(help="Torch threads.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed for sampling positions and play.")] = 0,
    draw_only: Annotated[
        bool,
        typer.Option(
            "--draw-only",
            help="Play and search nothing: draw what is stored so far (a look while it runs).",
        ),
    ] = False,
) -> None:
    """Curves over training: every stored checkpoint's score against each crowd member and
    held-out twin, flaw-trigger rates and search top-1 agreement (resumable)."""
    from crowdzero.analysis.study import curves as curve_module

    with _one_line_errors():
        if x not in curve_module.AXES:
            raise _fail(f"--x must be one of {', '.join(curve_module.AXES)}, not {x}")
        if points not in curve_module.WHICH:
            raise _fail(f"--points must be one of {', '.join(curve_module.WHICH)}, not {points}")
        for option, value in (
            ("--games", games),
            ("--every", every),
            ("--positions", positions),
            ("--concurrency", concurrency),
        ):
            if value < 1:
                raise _fail(f"{option} must be at least 1, not {value}")
        for path in runs or []:
            if not _is_run(path):
                raise _fail(f"{path} is not a crowdzero run (no config.toml)")
        if not runs and imitation is None:
            raise _fail("name at least one run, or --imitation")
        if out.exists() and not out.is_dir():
            raise _fail(f"--out {out} is a file, not a folder")
        settings = curve_module.CurveSettings(
            tuple(runs or ()),
            imitation=imitation,
            out_dir=out,
            games=games,
            every=every,
            points=points,  # type: ignore[arg-type]  # checked against WHICH above
            crowd=crowd,
            member_games=member_games,
            positions=positions,
            x=x,  # type: ignore[arg-type]  # checked against AXES above
            threads=threads,
            concurrency=concurrency,
            seed=seed,
            draw_only=draw_only,
        )
        curve_module.check_curves(settings)  # refuse bad runs before anything is written
    with _one_line_errors():
        curves = curve_module.curves_main(
            settings, on_progress=lambda text: console.print(text, markup=False)
        )
    console.print(
        f"{len(curves.rows)} checkpoints, {curves.games_played} games played, "
        f"{curves.games_reused} reused: {out / 'curves.md'}, {out / 'curves.png'}, "
        f"{out / 'curves.json'}",
        markup=False,
    )
    from crowdzero.analysis.study.report import CURVES_FOLDER

    if (out.parent / "results.json").is_file() and out.name == CURVES_FOLDER:
        console.print(
            f"to add them to the study's report: crowdzero study-report {out.parent}",
            markup=False,
        )


@app.command("config")
def show_config(
    run: Annotated[
        Path | None,
        typer.Argument(help="Show this run's values, each marked where it is not the default."),
    ] = None,
) -> None:
    """Print a config file with every key, its default and what it does.

    The output is TOML a new run can start from (`crowdzero train --config FILE`); for a
    run, a value that is not the default carries "# default: X" on its line.
    """
    from crowdzero.train.config import RunConfig, dump_config
    from crowdzero.train.run_dir import RunDir

    if run is None:
        sys.stdout.write(dump_config(RunConfig()))
        return
    with _one_line_errors(also=_CONFIG_VALUE_ERRORS):
        cfg = RunDir.open(run).config
    sys.stdout.write(dump_config(cfg, defaults=RunConfig()))


@app.command("export-sgf")
def export_sgf(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    out: Annotated[Path, typer.Option(help="Folder for the .sgf files.")] = Path("sgf"),
    last: Annotated[int, typer.Option(help="Only the newest N games (0 = all).")] = 0,
) -> None:
    """Write the run's stored games as SGF files."""
    from crowdzero.play.sgf import save_sgf
    from crowdzero.train.run_dir import RunDir

    if last < 0:
        raise _fail(f"--last must be 0 (all games) or more, not {last}")
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out} is a file, not a folder")
    n = 0
    with _one_line_errors(after=lambda: f"{n} SGF files were written to {out} first" if n else ""):
        run_dir = RunDir.open(run)
        if not run_dir.games_path.exists():
            raise _fail(f"{run} has no games yet; nothing to export")
        with run_dir.open_store() as store:
            out.mkdir(parents=True, exist_ok=True)
            since = max(0, store.last_game_id() - last) if last else 0
            for game_id, game in store.iter_games(since_id=since):
                save_sgf(game, out / f"game-{game_id:07d}.sgf")
                n += 1
    console.print(escape(f"wrote {n} SGF files to {out}"), soft_wrap=True)


def _is_run(path: Path) -> bool:
    return (path / "config.toml").is_file()


def _check_writable(path: Path) -> None:
    """OSError now, before any work, if the run folder cannot be written."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot write in the run folder: {exc.strerror}", str(path)
        ) from None


def _new_config(
    config: Path | None, board_size: int | None, overrides: dict[str, Any]
) -> RunConfig:
    """The config of a new run: the file (or the defaults), then the options given."""
    from crowdzero.train.config import RunConfig, apply_overrides, load_config

    cfg = load_config(config) if config is not None else RunConfig()
    if config is not None:
        # A crowd file named in a config file is relative to that file, as includes are.
        cfg = apply_overrides(cfg, {"train.crowd": _absolute_crowd(cfg.train.crowd, config.parent)})
    if board_size is not None:
        overrides = {**overrides, "board.size": board_size}
    return apply_overrides(cfg, overrides) if overrides else cfg


def _absolute_crowd(crowd: str, base: Path) -> str:
    """The run stores its crowd file as an absolute path: `crowdzero train --resume` from
    another folder, the web server and the study must all find the same file."""
    if crowd == "default" or Path(crowd).is_absolute():
        return crowd
    return str((base / crowd).resolve())


def _check_crowd(cfg: RunConfig) -> None:
    """Read the crowd file of a crowd run now and check every member in full (CrowdError),
    without starting any engine."""
    if cfg.train.mode == "crowd":
        from crowdzero.players.crowd import Crowd

        Crowd.load(cfg.train.crowd, build_players=False, board_size=cfg.board.size)


#: Settings a resumed run keeps whatever the command line says: the stored games, the
#: replay window and the checkpoints were made for them.
_FIXED_ON_RESUME = ("board.", "net.", "train.mode")


def _resume_config(stored: RunConfig, overrides: dict[str, Any], path: Path) -> RunConfig:
    """The stored config with the overrides that may change on resume (ConfigError else)."""
    from crowdzero.train.config import ConfigError, apply_overrides, iter_fields

    if not overrides:
        return stored
    cfg = apply_overrides(stored, overrides)
    new = {key: value for key, value, _ in iter_fields(cfg)}
    changed = [
        f"{key} ({value!r} -> {new[key]!r})"
        for key, value, _ in iter_fields(stored)
        if key.startswith(_FIXED_ON_RESUME) and new[key] != value
    ]
    if changed:
        raise ConfigError(
            f"{path} is an existing run; {', '.join(changed)} cannot change when resuming "
            "(its games and checkpoints were made for the old value); start a new run "
            "with --run NEW_FOLDER instead"
        )
    return cfg


def _parse_value(key: str, text: str) -> Any:
    """TOML-ish scalars for --set: numbers, true/false, else the string itself."""
    import tomllib

    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except ValueError:  # more digits than Python reads as an integer
        raise _fail(f"--set {key}: {text[:20]}... is too long a number") from None
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        # TOML integers are 64-bit; Python's would reach the config as an overflow.
        raise _fail(f"--set {key}: {text} is outside the 64-bit range of TOML integers")
    return value


def _check_config(cfg: RunConfig) -> None:
    """ConfigError for a number the typed config lets through but no run can use: one
    that is not finite (nan minutes never end a run, a nan komi fails the first game
    after the run is created, a nan weight poisons every loss)."""
    from crowdzero.train.config import ConfigError, iter_fields

    for key, value, _ in iter_fields(cfg):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, not {value}")


class _LogFile(logging.FileHandler):
    """train.log; when the disk refuses a line, says so once on stderr instead of
    printing a traceback per log line (the error itself reaches the user anyway)."""

    _warned = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._warned:
            self._warned = True
            error = sys.exc_info()[1]
            reason = error.strerror if isinstance(error, OSError) else error
            sys.stderr.write(f"warning: cannot write {self.baseFilename}: {reason}\n")


def _setup_logging(path: Path | None, quiet: bool) -> None:
    handlers: list[logging.Handler] = []
    if path is not None:
        handlers.append(_LogFile(path, encoding="utf-8"))
    if quiet:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()

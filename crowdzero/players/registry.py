"""Players by name: ``make_player("random")``, ``make_player("gnugo:5")``.

The CLI (``crowdzero gtp --player SPEC``), crowd config files and the arena all name
players by a short spec, ``kind`` or ``kind:argument``. Each kind registers a factory
that receives the text after the colon (or None) and returns a `Player`; factories
import their module lazily so naming a kind never loads torch or starts an engine.

Built-in kinds:

==============  ===========================================================
spec            player
==============  ===========================================================
random[:SEED]   `RandomPlayer` (uniform over legal non-pass moves)
random-noeye    `RandomNoEyePlayer` (never fills its own eyes); ``:SEED`` too
gnugo[:LEVEL]   GnuGo at LEVEL 0..10 behind a pool of processes
                (`crowdzero.players.engine_pool`)
gnugo-single    one `GnuGoPlayer` process (``:LEVEL`` too), for tools and
                tests that want exactly one engine
pachi[:N]       Pachi at N play-outs per move, pooled
katago[:V]      KataGo at V visits per move (default 1, its raw policy), pooled;
                plays the board size its installed config is set up for (9x9)
heuristic:M     human-like member M (``:SEED`` too) with one planted weakness:
                greedy, local, edge-neglect, ladder-blind, early-passer;
                plain is the control without one
mcts[:N]        plain UCT with N random play-outs a move (default 400);
                ``mcts:N:SEED`` seeds it
flawed:F:SPEC   the player SPEC with flaw F planted (pass-back,
                ladder-runner); SPEC alone is its flaw-free twin
                (`crowdzero.players.flawed`)
==============  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable

from crowdzero.play.player import Player
from crowdzero.players.spec import PlayerSpecError, split_spec

PlayerFactory = Callable[[str | None], Player]
#: Checks a spec's argument for a board size (None: any) without building the player,
#: raising ValueError (or PlayerSpecError) saying what is wrong.
SpecCheck = Callable[[str | None, int | None], None]

_FACTORIES: dict[str, PlayerFactory] = {}
_CHECKS: dict[str, SpecCheck] = {}


def register(kind: str, factory: PlayerFactory, check: SpecCheck | None = None) -> None:
    """Make ``kind[:argument]`` specs build players with `factory(argument)`.

    `check` validates an argument without building the player; kinds that start a
    process or load a file need one. Without it, `check_player_spec` builds the player
    and closes it again, which must then be cheap and side-effect free.
    """
    if not kind or ":" in kind or kind != kind.strip():
        raise ValueError(f"player kind {kind!r} must be a non-empty word without ':'")
    _FACTORIES[kind] = factory
    if check is None:
        _CHECKS.pop(kind, None)
    else:
        _CHECKS[kind] = check


def known_kinds() -> list[str]:
    """Registered kinds, sorted."""
    return sorted(_FACTORIES)


def make_player(spec: str) -> Player:
    """The player a spec names; PlayerSpecError for unknown kinds or bad arguments."""
    kind, argument = split_spec(spec)
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise PlayerSpecError(f"unknown player {spec!r}; known kinds: {', '.join(known_kinds())}")
    try:
        return factory(argument)
    except PlayerSpecError:
        raise
    except ValueError as exc:
        raise PlayerSpecError(f"bad player spec {spec!r}: {exc}") from exc


def check_player_spec(spec: str, board_size: int | None = None) -> None:
    """PlayerSpecError unless `spec` names a player that can be built (and, given
    `board_size`, plays that size). Starts no engine and leaves nothing behind, so a
    crowd can be checked in full before a run is created."""
    kind, argument = split_spec(spec)
    if kind not in _FACTORIES:
        raise PlayerSpecError(f"unknown player {spec!r}; known kinds: {', '.join(known_kinds())}")
    check = _CHECKS.get(kind)
    try:
        if check is not None:
            check(argument, board_size)
            return
        player = make_player(spec)
        try:
            if board_size is not None and not player.supports_size(board_size):
                raise PlayerSpecError(f"{spec} cannot play {board_size}x{board_size}")
        finally:
            player.close()
    except PlayerSpecError:
        raise
    except ValueError as exc:
        raise PlayerSpecError(f"bad player spec {spec!r}: {exc}") from exc


def _integer_in(argument: str | None, what: str, allowed: range) -> None:
    if argument is None or argument == "":
        return
    try:
        value = int(argument)
    except ValueError:
        raise PlayerSpecError(f"{what} {argument!r} is not an integer") from None
    if value not in allowed:
        raise PlayerSpecError(f"{what} must be {allowed.start}..{allowed.stop - 1}, not {value}")


def _check_gnugo(argument: str | None, board_size: int | None) -> None:
    from crowdzero.players.engines import GNUGO_LEVELS

    _integer_in(argument, "gnugo level", GNUGO_LEVELS)


def _check_pachi(argument: str | None, board_size: int | None) -> None:
    from crowdzero.players.engines import MAX_PACHI_PLAYOUTS, MIN_PACHI_PLAYOUTS

    _integer_in(argument, "pachi play-outs", range(MIN_PACHI_PLAYOUTS, MAX_PACHI_PLAYOUTS + 1))


def _check_katago(argument: str | None, board_size: int | None) -> None:
    from crowdzero.players.engines import (
        MAX_KATAGO_VISITS,
        MIN_KATAGO_VISITS,
        EngineUnavailable,
        katago_config,
    )

    _integer_in(argument, "katago visits", range(MIN_KATAGO_VISITS, MAX_KATAGO_VISITS + 1))
    if board_size is None:
        return
    try:  # reads the installed config; starts nothing
        config = katago_config(int(argument) if argument else 1)
    except (EngineUnavailable, OSError):
        return  # not installed: the member is disabled when the crowd is built
    if not config.plays_size(board_size):
        raise PlayerSpecError(config.size_refusal(board_size))


def _seed(argument: str | None) -> int | None:
    if argument is None or argument == "":
        return None
    try:
        return int(argument)
    except ValueError:
        raise PlayerSpecError(f"seed {argument!r} is not an integer") from None


def _random(argument: str | None) -> Player:
    from crowdzero.players.random import RandomPlayer

    return RandomPlayer(seed=_seed(argument))


def _random_noeye(argument: str | None) -> Player:
    from crowdzero.players.random import RandomNoEyePlayer

    return RandomNoEyePlayer(seed=_seed(argument))


def _gnugo(argument: str | None) -> Player:
    from crowdzero.players.gtp_player import GnuGoPlayer

    if argument is None or argument == "":
        return GnuGoPlayer()
    try:
        level = int(argument)
    except ValueError:
        raise PlayerSpecError(f"gnugo level {argument!r} is not an integer") from None
    return GnuGoPlayer(level=level)


register("random", _random)
register("random-noeye", _random_noeye)
register("gnugo-single", _gnugo, _check_gnugo)

# Crowd engines behind a shared pool of processes (crowdzero.players.engine_pool):
# ``gnugo:LEVEL`` names the pooled GnuGo (many concurrent games share a few
# processes); ``gnugo-single:LEVEL`` above is one process; ``pachi:PLAYOUTS`` is Pachi;
# ``katago:VISITS`` is KataGo.
from crowdzero.players.engine_pool import (  # noqa: E402
    pooled_gnugo,
    pooled_katago,
    pooled_pachi,
)

register("gnugo", pooled_gnugo, _check_gnugo)
register("pachi", pooled_pachi, _check_pachi)
register("katago", pooled_katago, _check_katago)


def _heuristic(argument: str | None) -> Player:
    from crowdzero.players.heuristics import heuristic_from_spec

    return heuristic_from_spec(argument)


def _mcts(argument: str | None) -> Player:
    from crowdzero.players.mcts import mcts_from_spec

    return mcts_from_spec(argument)


register("heuristic", _heuristic)
register("mcts", _mcts)


def _checkpoint(argument: str | None) -> Player:
    from crowdzero.players.checkpoint import checkpoint_player

    return checkpoint_player(argument)


def _check_checkpoint(argument: str | None, board_size: int | None) -> None:
    from crowdzero.players.checkpoint import load_checkpoint_spec

    load_checkpoint_spec(argument, board_size)


register("checkpoint", _checkpoint, _check_checkpoint)


def _flawed(argument: str | None) -> Player:
    from crowdzero.players.flawed import FlawedPlayer, split_flawed_spec

    flaw, inner = split_flawed_spec(argument)
    return FlawedPlayer(flaw, make_player(inner), name=f"flawed:{argument}")


def _check_flawed(argument: str | None, board_size: int | None) -> None:
    from crowdzero.players.flawed import split_flawed_spec

    check_player_spec(split_flawed_spec(argument)[1], board_size)


register("flawed", _flawed, _check_flawed)

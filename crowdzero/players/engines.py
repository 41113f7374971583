"""Where the external Go engines live and the command line each crowd member runs.

Two real engines sit in the crowd:

* GnuGo 3.8 (Debian's `gnugo` package), found on PATH or at `/usr/games/gnugo`, where
  Debian puts it (`/usr/games` is often not on a service's PATH).
* Pachi 11.99, built by `scripts/build_pachi.sh` into a project-local directory because
  no distribution ships it: `$CROWDZERO_PACHI`, else
  `${XDG_DATA_HOME:-~/.local/share}/crowdzero/bin/pachi`, else `pachi` on PATH.

Either may be missing on a given machine; asking for it then raises `EngineUnavailable`
with a message that says how to get it, so the crowd can drop that member and carry on.

Both engines are told to play on until the opponent's dead stones are off the board
before they pass (GnuGo `--capture-all-dead`, Pachi `pass_all_alive`). crowdzero scores
finished games by Tromp-Taylor area counting, which has no dead-stone removal: an
engine that passes early with dead enemy stones in its territory would otherwise be
scored as losing games it has won.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

GNUGO_LEVELS = range(0, 11)
"""GnuGo's `--level` runs from 0 (fastest, weakest) to 10 (its default, strongest)."""

MIN_PACHI_PLAYOUTS = 500
"""Pachi aborts (an assertion) below 500 play-outs a move: it needs that many to judge
which groups are dead before it may pass (`GJ_MINGAMES` in its uct/internal.h)."""

MAX_PACHI_PLAYOUTS = 1_000_000
"""Pachi's float tree statistics lose precision beyond about a million play-outs."""


class EngineUnavailable(RuntimeError):
    """An engine binary is not installed, so the crowd member that needs it is disabled."""


@dataclass(frozen=True)
class EngineConfig:
    """How to start one engine process: `argv(seed)` is its command line.

    `seed` is the engine's random seed: each process of a pool gets its own fixed seed
    so that a run can be repeated, yet the engines of one pool do not all play alike.
    """

    name: str
    binary: str
    args: tuple[str, ...]
    seed_flag: tuple[str, ...]

    def argv(self, seed: int) -> list[str]:
        """The full command line for an engine with random seed `seed`."""
        return [self.binary, *self.args, *self.seed_flag, str(seed)]


def pachi_install_path() -> Path:
    """Where `scripts/build_pachi.sh` installs Pachi (and where it is looked for first)."""
    override = os.environ.get("CROWDZERO_PACHI")
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "crowdzero" / "bin" / "pachi"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_gnugo() -> str:
    """Path of the GnuGo binary: `$CROWDZERO_GNUGO`, `gnugo` on PATH, `/usr/games/gnugo`."""
    override = os.environ.get("CROWDZERO_GNUGO")
    if override:
        if _executable(Path(override)):
            return override
        raise EngineUnavailable(
            f"GnuGo is not available: CROWDZERO_GNUGO={override} is not an executable file"
        )
    on_path = shutil.which("gnugo")
    if on_path:
        return on_path
    if _executable(Path("/usr/games/gnugo")):
        return "/usr/games/gnugo"
    raise EngineUnavailable(
        "GnuGo is not installed (looked on PATH and at /usr/games/gnugo); "
        "install it with `apt-get install gnugo` or set CROWDZERO_GNUGO"
    )


def find_pachi() -> str:
    """Path of the Pachi binary (see the module docstring for the search order)."""
    installed = pachi_install_path()
    if _executable(installed):
        return str(installed)
    if os.environ.get("CROWDZERO_PACHI"):
        raise EngineUnavailable(
            f"Pachi is not available: CROWDZERO_PACHI={installed} is not an executable file"
        )
    on_path = shutil.which("pachi")
    if on_path:
        return on_path
    raise EngineUnavailable(
        f"Pachi is not built (looked at {installed} and on PATH); "
        "run scripts/build_pachi.sh or set CROWDZERO_PACHI"
    )


def gnugo_config(level: int) -> EngineConfig:
    """GnuGo at `level` (0-10) speaking GTP under Chinese (area) rules."""
    if level not in GNUGO_LEVELS:
        raise ValueError(f"GnuGo levels run from 0 to 10, not {level}")
    return EngineConfig(
        name=f"gnugo:{level}",
        binary=find_gnugo(),
        args=("--mode", "gtp", "--level", str(level), "--chinese-rules", "--capture-all-dead"),
        seed_flag=("--seed",),
    )


def pachi_config(playouts: int) -> EngineConfig:
    """Pachi's UCT engine at a fixed `playouts` per move, one thread, no pondering.

    A fixed play-out count (`-t =P`) rather than a time limit keeps its strength the
    same however loaded the machine is; one thread and no pondering keep a pool of
    Pachis from fighting the network for the two cores.
    """
    if not MIN_PACHI_PLAYOUTS <= playouts <= MAX_PACHI_PLAYOUTS:
        raise ValueError(
            f"Pachi play-outs must be {MIN_PACHI_PLAYOUTS}..{MAX_PACHI_PLAYOUTS}, not {playouts}"
        )
    return EngineConfig(
        name=f"pachi:{playouts}",
        binary=find_pachi(),
        args=(
            "-d",
            "0",  # no board dumps on stderr
            "-r",
            "chinese",
            "-t",
            f"={playouts}",
            "threads=1,pondering=0,pass_all_alive",
        ),
        seed_flag=("-s",),
    )


def engine_available(kind: str) -> bool:
    """Whether the engine `kind` ("gnugo" or "pachi") can be started here."""
    finder = {"gnugo": find_gnugo, "pachi": find_pachi}.get(kind)
    if finder is None:
        raise ValueError(f"unknown engine {kind!r}; crowdzero knows gnugo and pachi")
    try:
        finder()
    except EngineUnavailable:
        return False
    return True

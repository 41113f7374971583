"""The crowd: who sits across the board from the agent, and how often each is drawn.

A crowd is a TOML file (the default is `default_crowd.toml`, next to this module) that
names its members - a player spec such as ``gnugo:3``, a display name and a draw
weight - plus an optional curriculum and the members held out for the study:

```toml
[curriculum]          # optional; absent or enabled = false: draw by the base weights
enabled = true
window = 100          # the win rate against a member is measured over its last N games
prior_games = 4.0     # pseudo-games at 50% shrinking early estimates toward "even"
floor = 0.1           # the smallest multiplier: no member is ever dropped

[study]
held_out = ["gnugo:1"]   # specs never drawn in training, kept for the transfer test

[[member]]
name = "gnugo-3"      # unique; defaults to the spec
spec = "gnugo:3"      # anything crowdzero.players.registry.make_player accepts
weight = 1.0          # >= 0; relative draw frequency
sizes = [9]           # optional: the board sizes it plays; elsewhere it sits out
```

Advisers (optional; see `crowdzero.players.advisers` for each intent) suggest moves to
the agent. Each joins a share `games` of the agent's games and, in those, advises each of
its moves with chance `rate`; the curriculum and the ratings ignore advice:

```toml
[[adviser]]
source = "helpful"    # helpful | opponent | random (people advise from the web page)
spec = "gnugo:10"     # helpful only: the engine whose choice is the advice
games = 0.5           # chance the adviser takes part in a game (default 1)
rate = 0.25           # chance it advises each of the agent's moves there (default 0.25)
```

The curriculum ("reward shaping from novices to experts") multiplies each member's base
weight by how informative its games currently are. With ``s`` the agent's score against
the member over its last `window` games (win 1, draw 0.5, loss 0) out of ``n`` games:

    p = (s + prior_games / 2) / (n + prior_games)      # smoothed win rate, 0.5 with no games
    multiplier = floor + (1 - floor) * 4 * p * (1 - p)  # 1 at p = 0.5, `floor` at p = 0 or 1
    weight = base_weight * multiplier                   # then normalised to sum to 1

A member the agent beats about half the time keeps its full weight; one it always beats
(a novice it has outgrown) or always loses to (an expert out of reach for now) sinks
toward `floor` times its base weight, so as the agent improves the draw moves from the
novices toward the experts. Members never played start at full weight, so the draw
begins at the base weights. `curriculum_weights` is that formula as a pure function.

A member whose engine is not installed (`EngineUnavailable`, e.g. Pachi not built) is
disabled, and the rest of the crowd carries on; `Crowd.disabled` says which and why, and
the log gets one warning per cause (KataGo missing disables both of the default crowd's
KataGo members in one line). So is a member whose `sizes` leave out the board size the
crowd is loaded for: the default crowd's KataGo is set up for 9x9 only, and a 7x7 run
plays on without it. A member without `sizes` that cannot play that size is an error, as
it is something the crowd file asked for.
"""

from __future__ import annotations

import logging
import math
import threading
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from crowdzero.go.coords import MAX_SIZE, MIN_SIZE
from crowdzero.play.advice import ScheduledAdviser
from crowdzero.play.player import Player
from crowdzero.players.advisers import CROWD_SOURCES, make_adviser
from crowdzero.players.engines import EngineUnavailable
from crowdzero.players.registry import (
    PlayerSpecError,
    check_player_spec,
    known_kinds,
    make_player,
)

log = logging.getLogger(__name__)

DEFAULT_CROWD = "default_crowd.toml"

#: The longest curriculum window; a deque cannot be longer than a C ssize_t anyway.
MAX_WINDOW = 10**9


class CrowdError(ValueError):
    """A crowd file cannot be used (unknown spec, negative weight, empty crowd...)."""


@dataclass(frozen=True)
class CrowdMember:
    """One seat the agent can be drawn against: `spec` says how to build the player."""

    name: str
    spec: str
    weight: float
    #: The board sizes the member plays (None: every size its player supports).
    sizes: tuple[int, ...] | None = None

    def sits_out(self, board_size: int | None) -> bool:
        """Whether the member stays out of a crowd for `board_size` (None: unknown)."""
        return board_size is not None and self.sizes is not None and board_size not in self.sizes


@dataclass(frozen=True)
class Curriculum:
    """How recent results shift the draw; see the module docstring for the formula."""

    enabled: bool = False
    window: int = 100
    prior_games: float = 4.0
    floor: float = 0.1

    def __post_init__(self) -> None:
        if self.window < 1:
            raise CrowdError(f"curriculum window must be at least 1 game, not {self.window}")
        if self.window > MAX_WINDOW:
            raise CrowdError(f"curriculum window must be at most {MAX_WINDOW:,} games")
        if not (math.isfinite(self.prior_games) and self.prior_games > 0):
            raise CrowdError(
                f"curriculum prior_games must be a positive number, not {self.prior_games}"
            )
        if not 0.0 <= self.floor <= 1.0:
            raise CrowdError(f"curriculum floor must be in [0, 1], not {self.floor}")


@dataclass(frozen=True)
class Record:
    """The agent's recent results against one member: total score and game count."""

    score: float = 0.0
    games: int = 0

    @property
    def win_rate(self) -> float | None:
        return None if self.games == 0 else self.score / self.games


def curriculum_multiplier(record: Record, curriculum: Curriculum) -> float:
    """How much the curriculum scales one member's base weight, in [floor, 1]."""
    p = (record.score + curriculum.prior_games / 2) / (record.games + curriculum.prior_games)
    return curriculum.floor + (1.0 - curriculum.floor) * 4.0 * p * (1.0 - p)


def curriculum_weights(
    base: Mapping[str, float],
    records: Mapping[str, Record],
    curriculum: Curriculum,
) -> dict[str, float]:
    """Draw probabilities: base weights times the curriculum multiplier, normalised.

    Members missing from `records` count as never played. With the curriculum disabled
    this is just the normalised base weights.
    """
    raw = {
        name: weight
        * (
            curriculum_multiplier(records.get(name, Record()), curriculum)
            if curriculum.enabled
            else 1.0
        )
        for name, weight in base.items()
    }
    total = sum(raw.values())
    if total <= 0:
        raise CrowdError("every member of the crowd has weight 0; nobody can be drawn")
    return {name: value / total for name, value in raw.items()}


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CrowdError(
            f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
        )


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CrowdError(f"{what} must be a number, not {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise CrowdError(f"{what} is too large a number") from None


def _parse_curriculum(table: Any) -> Curriculum:
    if not isinstance(table, dict):
        raise CrowdError("[curriculum] must be a table")
    _check_keys(table, {"enabled", "window", "prior_games", "floor"}, "[curriculum]")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise CrowdError(f"curriculum enabled must be true or false, not {enabled!r}")
    window = table.get("window", Curriculum.window)
    if isinstance(window, bool) or not isinstance(window, int):
        raise CrowdError(f"curriculum window must be a whole number of games, not {window!r}")
    return Curriculum(
        enabled=enabled,
        window=window,
        prior_games=_number(table.get("prior_games", Curriculum.prior_games), "prior_games"),
        floor=_number(table.get("floor", Curriculum.floor), "floor"),
    )


def _parse_member(entry: Any, index: int) -> CrowdMember:
    where = f"member #{index + 1}"
    if not isinstance(entry, dict):
        raise CrowdError(f"{where} must be a table ([[member]])")
    _check_keys(entry, {"name", "spec", "weight", "sizes"}, where)
    spec = entry.get("spec")
    if not isinstance(spec, str) or not spec.strip():
        raise CrowdError(f'{where} needs a spec string such as "gnugo:3"')
    spec = spec.strip()
    name = entry.get("name", spec)
    if not isinstance(name, str) or not name.strip():
        raise CrowdError(f"{where} ({spec}): name must be a non-empty string")
    weight = _number(entry.get("weight", 1.0), f"{where} ({name}) weight")
    if weight < 0 or weight != weight or weight == float("inf"):
        raise CrowdError(f"{where} ({name}): weight must be a finite number >= 0, not {weight}")
    return CrowdMember(
        name=name.strip(), spec=spec, weight=weight, sizes=_parse_sizes(entry, f"{where} ({name})")
    )


def _parse_sizes(entry: Mapping[str, Any], where: str) -> tuple[int, ...] | None:
    if "sizes" not in entry:
        return None
    sizes = entry["sizes"]
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes)
        or not all(MIN_SIZE <= n <= MAX_SIZE for n in sizes)
    ):
        raise CrowdError(
            f"{where}: sizes must be a non-empty list of board sizes {MIN_SIZE}..{MAX_SIZE}, "
            f"such as [9], not {sizes!r}"
        )
    return tuple(sizes)


@dataclass(frozen=True)
class AdviserEntry:
    """One [[adviser]] of a crowd file: its source, its engine (helpful only) and how
    often it speaks (`crowdzero.play.advice.ScheduledAdviser`)."""

    source: str
    spec: str | None = None
    games: float = 1.0
    rate: float = 0.25

    @property
    def name(self) -> str:
        return self.spec if self.spec else self.source


def _parse_adviser(entry: Any, index: int) -> AdviserEntry:
    where = f"adviser #{index + 1}"
    if not isinstance(entry, dict):
        raise CrowdError(f"{where} must be a table ([[adviser]])")
    _check_keys(entry, {"source", "spec", "games", "rate"}, where)
    source = entry.get("source")
    if source not in CROWD_SOURCES:
        raise CrowdError(
            f"{where}: source must be one of {', '.join(CROWD_SOURCES)}, not {source!r} "
            "(people advise from the web page)"
        )
    spec = entry.get("spec")
    if spec is not None and (not isinstance(spec, str) or not spec.strip()):
        raise CrowdError(f'{where}: spec must be a player spec string such as "gnugo:10"')
    if (source == "helpful") != (spec is not None):
        raise CrowdError(
            f"{where}: a helpful adviser needs a spec (its engine) and the others take none"
        )
    chances = {}
    for key, default in (("games", 1.0), ("rate", 0.25)):
        value = _number(entry.get(key, default), f"{where} {key}")
        if not 0.0 <= value <= 1.0:
            raise CrowdError(f"{where}: {key} must be a chance in [0, 1], not {value}")
        chances[key] = value
    return AdviserEntry(
        source, None if spec is None else spec.strip(), chances["games"], chances["rate"]
    )


def _parse_held_out(table: Any) -> tuple[str, ...]:
    if not isinstance(table, dict):
        raise CrowdError("[study] must be a table")
    _check_keys(table, {"held_out"}, "[study]")
    held_out = table.get("held_out", [])
    if not isinstance(held_out, list) or not all(isinstance(s, str) for s in held_out):
        raise CrowdError("[study] held_out must be a list of player specs")
    return tuple(spec.strip() for spec in held_out)


def _spec_kind(spec: str) -> str:
    return spec.partition(":")[0]


def _warn_disabled(disabled: Mapping[str, str], sitting_out: frozenset[str]) -> None:
    """One line per cause, naming every member it disables: a missing engine behind two
    members (katago:1 and katago:8) is one line, not two. A missing engine is a warning;
    a member sitting out a board size its crowd file leaves out is what the file asked
    for, so it is only noted (a 5x5 run on the default crowd prints no warning)."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in disabled.items():
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        who = "member" if len(names) == 1 else "members"
        level = logging.INFO if set(names) <= sitting_out else logging.WARNING
        log.log(level, "crowd %s %s disabled: %s", who, ", ".join(names), reason)


class Crowd:
    """The members the agent may be drawn against, their players and the curriculum.

    Build one with `Crowd.load` (a TOML file, or "default"). Players are built once at
    load time and shared by every game (`player(name)`); close the crowd to stop their
    engines. `sample`, `update` and `weights` are thread-safe.
    """

    def __init__(
        self,
        members: Iterable[CrowdMember],
        curriculum: Curriculum | None = None,
        held_out: Iterable[str] = (),
        *,
        build_players: bool = True,
        source: str = "<memory>",
        board_size: int | None = None,
        advisers: Iterable[AdviserEntry] = (),
    ) -> None:
        self.source = source
        self.curriculum = curriculum or Curriculum()
        self.adviser_entries = tuple(advisers)
        #: The advisers built (with build_players), in file order: `draw_plan` input.
        self.advice: tuple[ScheduledAdviser, ...] = ()
        self.held_out = tuple(held_out)
        self.disabled: dict[str, str] = {}
        listed = list(members)
        if not listed:
            raise CrowdError(f"{source}: the crowd has no members ([[member]] tables)")
        names = [member.name for member in listed]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise CrowdError(f"{source}: member names must be unique: {', '.join(duplicates)}")
        kinds = set(known_kinds())
        for spec in [member.spec for member in listed] + list(self.held_out):
            if _spec_kind(spec) not in kinds:
                raise CrowdError(
                    f"{source}: unknown player spec {spec!r}; known kinds: "
                    f"{', '.join(sorted(kinds))}"
                )
        for entry in self.adviser_entries:
            if entry.spec is not None:
                if _spec_kind(entry.spec) not in kinds:
                    raise CrowdError(f"{source}: unknown adviser spec {entry.spec!r}")
                if not build_players:
                    try:
                        check_player_spec(entry.spec, board_size)
                    except PlayerSpecError as exc:
                        raise CrowdError(f"{source}: adviser {entry.spec!r}: {exc}") from exc
        for spec in self.held_out:
            if any(member.spec == spec for member in listed):
                raise CrowdError(f"{source}: {spec!r} is held out for the study but is a member")
        if not build_players:
            # Every argument now (a GnuGo level, a checkpoint that loads and plays this
            # size), so a run is never created with a member that cannot be built.
            for member in listed:
                try:
                    check_player_spec(
                        member.spec, None if member.sits_out(board_size) else board_size
                    )
                except PlayerSpecError as exc:
                    raise CrowdError(f"{source}: member {member.name!r}: {exc}") from exc

        self._players: dict[str, Player] = {}
        kept: list[CrowdMember] = []
        sitting_out: set[str] = set()
        try:
            for member in listed:
                if member.sits_out(board_size):
                    sitting_out.add(member.name)
                    self.disabled[member.name] = (
                        f"it plays {', '.join(f'{n}x{n}' for n in member.sizes or ())} only "
                        f"(sizes in {source}), not {board_size}x{board_size}"
                    )
                    continue
                if build_players:
                    try:
                        player = make_player(member.spec)
                        self._players[member.name] = player
                        if board_size is not None and not player.supports_size(board_size):
                            raise PlayerSpecError(
                                f"{member.spec} cannot play {board_size}x{board_size}"
                            )
                    except PlayerSpecError as exc:
                        raise CrowdError(f"{source}: member {member.name!r}: {exc}") from exc
                    except EngineUnavailable as exc:
                        self.disabled[member.name] = str(exc)
                        continue
                kept.append(member)
            _warn_disabled(self.disabled, frozenset(sitting_out))
            if not kept:
                raise CrowdError(
                    f"{source}: every member is disabled ({'; '.join(self.disabled.values())})"
                )
            if sum(member.weight for member in kept) <= 0:
                raise CrowdError(f"{source}: every member has weight 0; nobody can be drawn")
            if build_players:
                self.advice = self._build_advisers()
        except CrowdError:
            self.close()
            raise
        self.members = tuple(kept)
        self._by_name = {member.name: member for member in kept}
        self._results: dict[str, deque[float]] = {
            member.name: deque(maxlen=self.curriculum.window) for member in kept
        }
        self._lock = threading.Lock()

    def _build_advisers(self) -> tuple[ScheduledAdviser, ...]:
        """Build each [[adviser]]; one whose engine is not installed is disabled."""
        built = []
        for entry in self.adviser_entries:
            try:
                adviser = make_adviser(entry.source, entry.spec)
            except EngineUnavailable as exc:
                self.disabled[f"adviser {entry.name}"] = str(exc)
                log.warning("adviser %s disabled: %s", entry.name, exc)
                continue
            except (PlayerSpecError, ValueError) as exc:
                raise CrowdError(f"{self.source}: adviser {entry.name!r}: {exc}") from exc
            built.append(ScheduledAdviser(adviser, entry.games, entry.rate))
        return tuple(built)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        path: str | Path = "default",
        *,
        build_players: bool = True,
        board_size: int | None = None,
    ) -> Crowd:
        """A crowd from a TOML file; "default" is the packaged `default_crowd.toml`.

        With `board_size`, every member must play that size (CrowdError otherwise).
        """
        if str(path) == "default":
            text = resources.files("crowdzero.players").joinpath(DEFAULT_CROWD).read_text()
            source = DEFAULT_CROWD
        else:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise CrowdError(f"cannot read crowd file {path}: {exc}") from exc
            except UnicodeDecodeError as exc:
                raise CrowdError(
                    f"crowd file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} "
                    f"at offset {exc.start}); save it as UTF-8"
                ) from exc
            source = str(path)
        return cls.from_toml(
            text, build_players=build_players, source=source, board_size=board_size
        )

    @classmethod
    def from_toml(
        cls,
        text: str,
        *,
        build_players: bool = True,
        source: str = "<string>",
        board_size: int | None = None,
    ) -> Crowd:
        """A crowd from TOML text (the format in the module docstring)."""
        try:
            data = tomllib.loads(text)
        except ValueError as exc:  # TOMLDecodeError, or an integer too long to read
            raise CrowdError(f"{source} is not valid TOML: {exc}") from exc
        _check_keys(data, {"member", "curriculum", "study", "adviser"}, source)
        entries = data.get("member", [])
        if not isinstance(entries, list):
            raise CrowdError(f"{source}: members are [[member]] tables")
        try:
            members = [_parse_member(entry, i) for i, entry in enumerate(entries)]
            curriculum = _parse_curriculum(data["curriculum"]) if "curriculum" in data else None
            held_out = _parse_held_out(data.get("study", {}))
            adviser_tables = data.get("adviser", [])
            if not isinstance(adviser_tables, list):
                raise CrowdError("advisers are [[adviser]] tables")
            advisers = [_parse_adviser(entry, i) for i, entry in enumerate(adviser_tables)]
        except CrowdError as exc:
            raise CrowdError(f"{source}: {exc}") from exc
        return cls(
            members,
            curriculum,
            held_out,
            build_players=build_players,
            source=source,
            board_size=board_size,
            advisers=advisers,
        )

    # ------------------------------------------------------------------ drawing

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(member.name for member in self.members)

    def member(self, name: str) -> CrowdMember:
        try:
            return self._by_name[name]
        except KeyError:
            raise CrowdError(f"no crowd member named {name!r}") from None

    def player(self, name: str) -> Player:
        """The shared player of member `name` (built at load time)."""
        self.member(name)
        try:
            return self._players[name]
        except KeyError:
            raise CrowdError(f"the crowd was loaded without building players ({name})") from None

    def records(self) -> dict[str, Record]:
        """The agent's recent score and game count against each member."""
        with self._lock:
            return {
                name: Record(score=float(sum(results)), games=len(results))
                for name, results in self._results.items()
            }

    def weights(self) -> dict[str, float]:
        """Current draw probabilities (base weights shaped by the curriculum), sum 1."""
        base = {member.name: member.weight for member in self.members}
        return curriculum_weights(base, self.records(), self.curriculum)

    def sample(self, rng: np.random.Generator) -> str:
        """Draw the name of the member the next game is played against."""
        weights = self.weights()
        names = list(weights)
        probabilities = np.array([weights[name] for name in names], dtype=np.float64)
        return names[int(rng.choice(len(names), p=probabilities / probabilities.sum()))]

    def update(self, results: Iterable[tuple[str, float]]) -> None:
        """Record finished games: (member name, agent's score: 1 win, 0.5 draw, 0 loss)."""
        checked = []
        for name, score in results:
            self.member(name)
            if not 0.0 <= score <= 1.0:
                raise CrowdError(f"a game score is 1 (win), 0.5 (draw) or 0 (loss), not {score}")
            checked.append((name, float(score)))
        with self._lock:
            for name, score in checked:
                self._results[name].append(score)

    def close(self) -> None:
        """Stop the members' and advisers' engines."""
        for player in self._players.values():
            player.close()
        for scheduled in self.advice:
            scheduled.adviser.close()

    def __enter__(self) -> Crowd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Crowd({self.source!r}, members={list(self.names)})"

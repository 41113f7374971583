"""A run's settings as one typed, frozen object, loaded from and written to TOML.

Defaults and documentation live in the dataclasses and nowhere else: each field carries
its default, its doc and its bounds in ``metadata``, checked by every section's
``__post_init__`` through `crowdzero.config_fields.check_fields` (one style for every
section, whichever package owns it). The loader, the dumper and the CLI overrides are
generic over nested dataclasses, so a section added to `RunConfig` (or a field added to
`NetConfig` / `SearchConfig` by their owners) is loadable, documented in every
``runs/NAME/config.toml`` and overridable from the command line with no change here.

Type rules: a TOML integer is accepted where a float is wanted, never the reverse; a
bool is never a number; enums and ``Literal`` fields take one of their listed strings.
Anything else, an unknown key, or a value the dataclass refuses raises `ConfigError`
naming the file (or "override") and the dotted key.

One source of truth for the board size: ``board.size``. `NetConfig` has its own
``board_size`` (a checkpoint records what size its weights were trained for), so
`RunConfig` derives it: ``net.board_size`` is set from ``board.size`` when a `RunConfig`
is built, it is never written to config.toml (only shown as a comment), and setting it in
a file or an override is an error that points at ``board.size``.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import textwrap
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import tomli_w

from crowdzero.config_fields import check_fields, field_doc
from crowdzero.go.position import KoRule, Rules
from crowdzero.net.model import NetConfig
from crowdzero.search.config import SearchConfig

T = TypeVar("T")

#: Keys whose value is derived from another key (key -> its source of truth).
DERIVED: dict[str, str] = {"net.board_size": "board.size"}

#: Keys added after runs were first made, with the value that reproduces how a run made
#: before them trained (a string "=KEY" copies that key of the same run). A run's
#: config.toml that lacks one is read with this value, not the new default, so an old run
#: resumes as it ran and its checkpoints keep matching its network; any other missing key
#: makes the config incomplete (see `RunDir.open`).
INTRODUCED: dict[str, Any] = {
    "net.liberty_features": False,
    "net.global_pooling": False,
    "net.score_head": False,
    "net.opponent_policy_head": False,
    "net.advice_planes": False,
    "search.full_search_fraction": 1.0,
    "search.cheap_simulations": 8,
    "search.resign_threshold": -1.0,
    "search.resign_consecutive": 3,
    "search.opponent_model": False,
    "train.window_min_rows": 0,
    "train.window_exponent": 0.75,
    "train.window_growth": 0.4,
    "train.lr_warmup_steps": 0,
    "train.lr_decay_steps": 0,
    "train.refresh_every": "=train.checkpoint_every",
    "train.learner_thread": False,
    "train.max_steps_behind": 40,
    "train.no_resign_fraction": 1.0,
    "train.value_on_all_positions": False,
    "train.agent_moves_last": False,
    "train.agent_search_wait": 0.0,
    "train.agent_search_min_fill": 1.0,
    "train.crowd_threads": 4,
    "train.score_weight": 0.0,
    "train.opponent_policy_weight": 0.0,
    "train.games": 0,
}


def with_introduced_keys(data: Mapping[str, Any], missing: list[str]) -> tuple[dict, list[str]]:
    """`data` (parsed TOML) with each missing key of `INTRODUCED` set to its old-run value;
    returns the new data and the keys still missing."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    still = []
    for key in missing:
        if key not in INTRODUCED:
            still.append(key)
            continue
        value = INTRODUCED[key]
        if isinstance(value, str) and value.startswith("="):
            section, _, name = value[1:].partition(".")
            source = out.get(section, {})
            if name not in source:
                still.append(key)
                continue
            value = source[name]
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = value
    return out, still


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class BoardConfig:
    """The game the agent learns: board size, komi and ko rule (area scoring throughout)."""

    size: int = field(
        default=9,
        metadata={
            "doc": "Board size N (5..19). The network's board size follows it.",
            "min": 5,
            "max": 19,
        },
    )
    komi: float = field(
        default=7.5,
        metadata={"doc": "Points added to white's area score; a half point rules out jigo."},
    )
    ko: KoRule = field(
        default=KoRule.POSITIONAL,
        metadata={
            "doc": "Repetition rule: 'simple' (no immediate retake), 'positional' "
            "(no earlier board may recur) or 'situational' (board and side to move)."
        },
    )

    def __post_init__(self) -> None:
        check_fields(self)

    def rules(self) -> Rules:
        return Rules(size=self.size, komi=self.komi, ko=self.ko)


@dataclass(frozen=True)
class TrainConfig:
    """How games are generated and learned from."""

    mode: Literal["crowd", "self"] = field(
        default="crowd",
        metadata={
            "doc": "'crowd': the agent plays members of the crowd and learns only from its "
            "own moves; 'self': traditional AlphaZero self-play, learning from every move.",
            "choices": ("crowd", "self"),
        },
    )
    crowd: str = field(
        default="default",
        metadata={
            "doc": "Crowd config (a TOML file path) or 'default' for the built-in crowd. "
            "Ignored in self mode."
        },
    )
    concurrent_games: int = field(
        default=32,
        metadata={
            "doc": "Games played at once; their agent moves share one batched search, so "
            "more games means bigger network batches.",
            "min": 1,
        },
    )
    max_moves: int = field(
        default=0,
        metadata={
            "doc": "Moves after which an unfinished game is stopped and scored as it "
            "stands; 0 means 2 * size * size.",
            "min": 0,
        },
    )
    batch_size: int = field(default=256, metadata={"doc": "Positions per training step.", "min": 1})
    optimizer: Literal["sgd", "adamw"] = field(
        default="adamw",
        metadata={
            "doc": "'adamw' (learns fast from few steps, good on a CPU budget) or 'sgd' "
            "with momentum (AlphaZero's choice).",
            "choices": ("sgd", "adamw"),
        },
    )
    learning_rate: float = field(
        default=2e-3, metadata={"doc": "Step size of the optimizer.", "above": 0.0}
    )
    momentum: float = field(
        default=0.9,
        metadata={"doc": "SGD momentum (unused by adamw).", "min": 0.0, "max": 0.999},
    )
    weight_decay: float = field(
        default=0.05,
        metadata={
            "doc": "Weight decay of convolution and linear weights (decoupled for adamw: "
            "each step shrinks them by learning_rate * weight_decay; biases and batch "
            "norm are not decayed). 1e-4 in the decoupled form is next to nothing.",
            "min": 0.0,
        },
    )
    lr_warmup_steps: int = field(
        default=100,
        metadata={"doc": "Steps over which the learning rate rises linearly from 0.", "min": 0},
    )
    lr_decay_steps: int = field(
        default=2_000,
        metadata={
            "doc": "Learning rate after warm-up: learning_rate / sqrt(1 + step / "
            "lr_decay_steps) (half at 3x this many steps); 0 keeps it constant.",
            "min": 0,
        },
    )
    replay_window: int = field(
        default=250_000,
        metadata={
            "doc": "Most rows (positions) kept in memory; samples come from the newest "
            "window_min_rows..replay_window of them (see window_growth), each under a "
            "random one of the 8 board symmetries if symmetry_augmentation is on.",
            "min": 1,
        },
    )
    window_min_rows: int = field(
        default=20_000,
        metadata={
            "doc": "KataGo's growing window: every row is sampled until this many have "
            "been added; after that the sampled window is the newest "
            "min * (1 + growth * ((rows / min) ** exponent - 1) / exponent) rows, so data "
            "of the first, near-random network stops being sampled early. 0 = sample the "
            "whole replay_window (a fixed window).",
            "min": 0,
        },
    )
    window_exponent: float = field(
        default=0.75,
        metadata={
            "doc": "Exponent of the growing window (KataGo: 0.75).",
            "above": 0.0,
            "max": 1.0,
        },
    )
    window_growth: float = field(
        default=0.4,
        metadata={"doc": "Growth factor of the growing window (KataGo: 0.4).", "min": 0.0},
    )
    min_replay: int = field(
        default=2_048,
        metadata={
            "doc": "Positions to collect before the first training step (<= replay_window).",
            "min": 1,
        },
    )
    sample_reuse: float = field(
        default=4.0,
        metadata={
            "doc": "How many times, on average, each new position is drawn into a batch: "
            "the learner runs sample_reuse * new_positions / batch_size steps, so "
            "learning keeps pace with game generation whatever the speed of either.",
            "above": 0.0,
        },
    )
    checkpoint_every: int = field(
        default=250,
        metadata={"doc": "Training steps between checkpoint files.", "min": 1},
    )
    refresh_every: int = field(
        default=25,
        metadata={
            "doc": "Training steps between handing the newest weights to the playing "
            "agent (independent of checkpoint files, so games are played by weights at "
            "most this many steps old).",
            "min": 1,
        },
    )
    learner_thread: bool = field(
        default=True,
        metadata={
            "doc": "Train on a second thread while games are generated, so both cores "
            "work (search on one, learning on the other); false trains in the game loop "
            "between moves (deterministic, for tests).",
        },
    )
    max_steps_behind: int = field(
        default=40,
        metadata={
            "doc": "With learner_thread: game generation pauses when the learner owes "
            "more than this many steps, so sample_reuse holds however slow learning is.",
            "min": 1,
        },
    )
    no_resign_fraction: float = field(
        default=0.1,
        metadata={
            "doc": "Share of the agent's games in which it may not resign (its resign "
            "rule is search.resign_threshold); from them the run measures the false "
            "resignation rate: games it would have resigned but won.",
            "min": 0.0,
            "max": 1.0,
        },
    )
    seed: int = field(default=0, metadata={"doc": "Seed for games, sampling and initial weights."})
    minutes: float = field(
        default=0.0,
        metadata={"doc": "Wall-clock budget of the run in minutes; 0 = no limit.", "min": 0.0},
    )
    games: int = field(
        default=0,
        metadata={
            "doc": "Stop once the run's store holds this many games (a target, kept when "
            "resumed); 0 = no limit. A budget that does not depend on the machine's speed.",
            "min": 0,
        },
    )
    threads: int = field(
        default=2,
        metadata={
            "doc": "Torch threads for the network (search and learning). Use 1 per run "
            "when two runs share a 2-core machine.",
            "min": 1,
        },
    )
    symmetry_augmentation: bool = field(
        default=True,
        metadata={"doc": "Train on a random one of the 8 rotations/reflections of each position."},
    )
    ownership_weight: float = field(
        default=0.5,
        metadata={
            "doc": "Weight of the ownership loss (per-point, averaged) next to the policy "
            "and value losses; 0 turns it off. Needs net.ownership_head.",
            "min": 0.0,
        },
    )
    value_on_all_positions: bool = field(
        default=True,
        metadata={
            "doc": "Train value, ownership and score on every position of the agent's "
            "games, from the mover's view (the search evaluates positions with the "
            "opponent to move at every child of its root). false keeps only the rows with "
            "a policy target, as crowdzero did before: an ablation switch.",
        },
    )
    agent_moves_last: bool = field(
        default=True,
        metadata={
            "doc": "Each runner step applies the crowd's ready moves before the agent "
            "searches, so one batched search covers every game where the agent is to "
            "move. false serves every seat in one pass, as crowdzero did before (about "
            "half the games per search): an ablation switch.",
        },
    )
    agent_search_wait: float = field(
        default=0.05,
        metadata={
            "doc": "With agent_moves_last: seconds the agent's batched search may wait for "
            "crowd engines (GnuGo, Pachi, KataGo, MCTS) still thinking in games where the "
            "agent moves next, so their games join this search instead of the next one. "
            "The answers that arrived meanwhile are always taken in; 0 never waits. "
            "GnuGo 0-6 answer in 20-35 ms on this machine; a search takes about a second.",
            "min": 0.0,
            "max": 10.0,
        },
    )
    agent_search_min_fill: float = field(
        default=0.9,
        metadata={
            "doc": "The wait of agent_search_wait ends early once this share of the games "
            "where the agent moves next are ready to search (1.0: wait for all of them or "
            "the full time).",
            "min": 0.0,
            "max": 1.0,
        },
    )
    crowd_threads: int = field(
        default=0,
        metadata={
            "doc": "Threads that ask blocking crowd members (GnuGo, Pachi, KataGo, MCTS) "
            "for their moves; 0 = one per concurrent game. A thread mostly waits on its "
            "engine, and each member's engine pool bounds how many of its processes think "
            "at once; with 4 threads (crowdzero before this key) a quick GnuGo 0 move "
            "queued behind slow GnuGo 10 and KataGo ones.",
            "min": 0,
        },
    )
    score_weight: float = field(
        default=0.5,
        metadata={
            "doc": "Weight of the final-score loss (Huber on the area margin over N*N, "
            "from the mover's view; not in resigned games); used when the network has a "
            "score head.",
            "min": 0.0,
        },
    )
    opponent_policy_weight: float = field(
        default=0.15,
        metadata={
            "doc": "Weight of the auxiliary opponent-reply loss (the move the other seat "
            "played next; in crowd mode a free model of each member). It never trains "
            "the agent's own policy head. Used when the network has that head.",
            "min": 0.0,
        },
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if self.min_replay > self.replay_window:
            raise ValueError(
                f"min_replay ({self.min_replay}) cannot exceed replay_window "
                f"({self.replay_window}): training would never start"
            )


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs; written to runs/NAME/config.toml."""

    board: BoardConfig = field(default_factory=BoardConfig)
    net: NetConfig = field(default_factory=NetConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        # net.board_size is derived from board.size (see the module docstring).
        if self.net.board_size != self.board.size:
            object.__setattr__(
                self, "net", dataclasses.replace(self.net, board_size=self.board.size)
            )
        if self.search.opponent_model:
            raise ValueError(
                "search.opponent_model needs a model of each crowd member, which training "
                "runs do not build; it is an evaluation option (the study's opponent-model "
                "agent, docs/study.md)"
            )
        if self.train.ownership_weight > 0 and not self.net.ownership_head:
            raise ValueError(
                f"train.ownership_weight is {self.train.ownership_weight} but "
                "net.ownership_head is false: set the weight to 0 or turn the head on"
            )

    @property
    def rules(self) -> Rules:
        return self.board.rules()

    @property
    def max_moves(self) -> int:
        """Move limit per game, with 0 resolved to 2 * N * N."""
        return self.train.max_moves or 2 * self.board.size * self.board.size


# -- loading -------------------------------------------------------------------------


def load_config(path: str | Path) -> RunConfig:
    """Read a RunConfig from a TOML file; keys left out keep their defaults."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
            "a config file is TOML, which is UTF-8"
        ) from e
    return loads_config(text, source=str(path))


def loads_config(text: str, source: str = "<string>") -> RunConfig:
    """Parse TOML text into a RunConfig (`source` names it in error messages)."""
    try:
        data = tomllib.loads(text)
    except ValueError as e:  # TOMLDecodeError, or an integer past Python's digit limit
        raise ConfigError(f"{source}: not valid TOML: {e}") from e
    return config_from_dict(data, source)


def config_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> RunConfig:
    """Build a RunConfig from nested plain values (as TOML parses them)."""
    return _build(RunConfig, data, "", source)


def _build(cls: type[T], data: Any, prefix: str, source: str) -> T:
    where = f"{source}: [{prefix}]" if prefix else f"{source}:"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {prefix} must be a table, not {_describe(data)}")
    init_fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in init_fields:
            raise ConfigError(f"{source}: unknown key {key}{_suggest(name, init_fields)}")
        if key in DERIVED:
            raise ConfigError(
                f"{source}: {key} is set by {DERIVED[key]}; remove it and set {DERIVED[key]}"
            )
        kwargs[name] = _convert(hints[name], value, key, source)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where} {e}") from e


def _convert(hint: Any, value: Any, key: str, source: str) -> Any:
    """`value` (a TOML value) as type `hint`, or ConfigError naming `key`."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value, key, source)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Literal:
        if value in args and type(value) is type(args[args.index(value)]):
            return value
        raise ConfigError(
            f"{source}: {key} must be one of {', '.join(repr(a) for a in args)}, not {value!r}"
        )
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key, source)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {key} must be an array, not {_describe(value)}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            item_types = [args[0]] * len(value)
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{source}: {key} must have {len(args)} entries")
            item_types = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        items = [
            _convert(t, v, f"{key}[{i}]", source)
            for i, (t, v) in enumerate(zip(item_types, value, strict=True))
        ]
        return tuple(items) if origin is tuple else items
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in hint)
            raise ConfigError(f"{source}: {key} must be one of {choices}, not {value!r}") from None
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {key} must be true or false, not {_describe(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {key} must be an integer, not {_describe(value)}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise ConfigError(f"{source}: {key} is too large for a number") from None
            if not math.isfinite(number):
                raise ConfigError(f"{source}: {key} must be a finite number, not {number}")
            return number
        raise ConfigError(f"{source}: {key} must be a number, not {_describe(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{source}: {key} must be a string, not {_describe(value)}")
    raise ConfigError(f"{source}: {key} has a type the config loader cannot read ({hint!r})")


def _describe(value: Any) -> str:
    try:
        return f"{value!r} ({type(value).__name__})"
    except ValueError:  # an integer too long to print (Python's 4300-digit limit)
        return f"an integer of {value.bit_length()} bits"


def _suggest(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"


# -- overrides -----------------------------------------------------------------------


def apply_overrides(cfg: RunConfig, overrides: Mapping[str, Any]) -> RunConfig:
    """A copy of `cfg` with dotted keys replaced, e.g. {"board.size": 13}.

    Values are type-checked like file values. A string given for a non-string field is
    read as a TOML value, so CLI text such as "13", "true" or "0.5" works.
    """
    for key, value in overrides.items():
        cfg = _override(cfg, key, value)
    return cfg


def _override(cfg: RunConfig, key: str, value: Any) -> RunConfig:
    source = "override"
    if key in DERIVED:
        raise ConfigError(f"{source}: {key} is set by {DERIVED[key]}; override that instead")
    names = key.split(".")
    chain: list[Any] = [cfg]
    for depth, name in enumerate(names):
        node = chain[-1]
        known = {f.name: f for f in dataclasses.fields(node) if f.init}
        if name not in known:
            prefix = ".".join(names[:depth])
            raise ConfigError(
                f"{source}: unknown key {key}{_suggest(name, known)}"
                + (f" in [{prefix}]" if prefix else "")
            )
        if depth < len(names) - 1:
            child = getattr(node, name)
            if not dataclasses.is_dataclass(child):
                raise ConfigError(f"{source}: {'.'.join(names[: depth + 1])} is not a section")
            chain.append(child)
    hint = typing.get_type_hints(type(chain[-1]))[names[-1]]
    if dataclasses.is_dataclass(hint):
        raise ConfigError(f"{source}: {key} is a section; override one of its keys")
    if isinstance(value, str) and not _accepts_str(hint):
        value = _parse_literal(value, key, source)
    new = _convert(hint, value, key, source)
    for depth in range(len(names) - 1, -1, -1):
        node = chain[depth]
        try:
            new = dataclasses.replace(node, **{names[depth]: new})
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{source}: {key}: {e}") from e
    assert isinstance(new, RunConfig)
    return new


def _accepts_str(hint: Any) -> bool:
    if hint is str or hint is Any:
        return True
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return True
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal:
        return any(isinstance(a, str) for a in args)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_accepts_str(a) for a in args)
    return False


def _parse_literal(text: str, key: str, source: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except ValueError:  # TOMLDecodeError, or an integer past Python's digit limit
        raise ConfigError(f"{source}: {key}: cannot read {text!r} as a value") from None


# -- writing -------------------------------------------------------------------------


def iter_fields(cfg: Any, prefix: str = "") -> Iterator[tuple[str, Any, str]]:
    """(dotted key, value, doc) for every leaf setting, in declaration order."""
    for f in dataclasses.fields(cfg):
        key = f"{prefix}.{f.name}" if prefix else f.name
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from iter_fields(value, key)
        else:
            yield key, value, field_doc(f)


def dump_config(cfg: RunConfig, defaults: RunConfig | None = None) -> str:
    """TOML for `cfg` with each key's doc as a comment above it; loads back equal.

    With `defaults`, a key whose value differs from its default there says so at the end
    of its line (``simulations = 16  # default: 64``), so a run's settings can be read
    against the defaults without a diff.
    """
    lines = [
        "# crowdzero run configuration, every key with what it does. In a config passed",
        "# with --config a key left out takes its default; a run's own config.toml must",
        "# keep every key (keys newer than the run are read as the run trained).",
    ]
    _dump_table(cfg, "", lines, defaults)
    return "\n".join(lines).rstrip() + "\n"


def _dump_table(obj: Any, prefix: str, lines: list[str], defaults: Any) -> None:
    tables = []
    for f in dataclasses.fields(obj):
        key = f"{prefix}.{f.name}" if prefix else f.name
        value = getattr(obj, f.name)
        default = getattr(defaults, f.name) if defaults is not None else value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            tables.append((key, value, None if defaults is None else default))
            continue
        lines.append("")
        lines += _comment(field_doc(f))
        if key in DERIVED:
            lines.append(f"# {f.name} = {_toml_value(value)}  (follows {DERIVED[key]})")
        elif value is None:
            lines.append(f"# {f.name} is unset")
        else:
            line = tomli_w.dumps({f.name: _plain(value)}).rstrip("\n")
            if value != default:
                line += f"  # default: {_toml_value(default) if default is not None else 'unset'}"
            lines.append(line)
    for key, value, table_defaults in tables:
        lines += ["", ""]
        lines += _comment((type(value).__doc__ or "").strip().split("\n\n")[0])
        lines.append(f"[{key}]")
        _dump_table(value, key, lines, table_defaults)


def _comment(text: str) -> list[str]:
    text = " ".join(text.split())
    return ["# " + line for line in textwrap.wrap(text, width=86)] if text else []


def _toml_value(value: Any) -> str:
    return tomli_w.dumps({"v": _plain(value)})[len("v = ") :].rstrip("\n")


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value

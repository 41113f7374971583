"""Config files and crowd files, whatever they hold: loading one gives a config (or a
crowd) or raises the one error type of its module, ConfigError or CrowdError, whose
message the CLI prints as its one line. Anything else escaping would be a traceback.

Property-based (hypothesis): arbitrary text and bytes, and TOML built from the real keys
with values of every TOML type (and of the right type but out of range: nan, inf,
negative, 64-bit extremes). GTP input and SGF files are fuzzed in test_gtp_engine.py
and test_sgf.py, web requests in test_bad_input_web.py.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowdzero.players.crowd import Crowd, CrowdError
from crowdzero.players.registry import known_kinds
from crowdzero.train.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
    config_from_dict,
    iter_fields,
    load_config,
    loads_config,
)

FIELDS = list(iter_fields(RunConfig()))
SECTIONS = sorted({key.partition(".")[0] for key, _, _ in FIELDS})
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

#: Any TOML value: scalars of every type, arrays and tables, nested a little.
toml_values = st.recursive(
    st.booleans()
    | INT64
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
    | st.dates()
    | st.times()
    | st.datetimes(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)

#: Numbers that pass a type check and then test the range checks.
edge_numbers = st.sampled_from(
    [
        *(0, 1, -1, 2, 5, 19, 20, 2**31, 2**63 - 1, -(2**63)),
        *(0.0, -0.0, 0.5, 1.0, -1.0, 1e308, 5e-324, math.nan, math.inf, -math.inf),
    ]
)


def _near(default: Any) -> st.SearchStrategy[Any]:
    """Values of the field's own type, the default's neighbours and extremes."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int | float):
        return edge_numbers | st.just(default) | INT64 | st.floats()
    if isinstance(default, str):
        words = ["crowd", "self", "puct", "gumbel", "sgd", "adamw", "simple", "positional"]
        return st.sampled_from([*words, "situational", "default", ""]) | st.text(max_size=8)
    return toml_values


@st.composite
def config_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Parsed TOML shaped like a config: real keys (and some junk) with any values."""
    data: dict[str, Any] = {}
    chosen = draw(st.lists(st.sampled_from(FIELDS), max_size=8, unique_by=lambda f: f[0]))
    for key, default, _ in chosen:
        section, _, name = key.partition(".")
        table = data.setdefault(section, {})
        table[name] = draw(_near(default) | toml_values)
    for _ in range(draw(st.integers(0, 2))):
        section = draw(st.sampled_from(SECTIONS) | st.text(max_size=6))
        junk = draw(
            st.text(max_size=8) | st.sampled_from([f.partition(".")[2] for f, _, _ in FIELDS])
        )
        target = data.setdefault(section, {})
        if isinstance(target, dict):
            target[junk] = draw(toml_values)
    if draw(st.booleans()):
        data[draw(st.sampled_from(SECTIONS))] = draw(toml_values)  # a section that is no table
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=config_dicts())
def test_any_toml_shaped_config_is_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    """The same data as parsed TOML and as the text of a config file."""
    for load in (lambda: config_from_dict(data), lambda: loads_config(tomli_w.dumps(data))):
        with contextlib.suppress(ConfigError):
            assert isinstance(load(), RunConfig)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=200)
    | st.text(alphabet=st.sampled_from(list("[]=.\"' \n#0123456789abeknorstuz_-+")), max_size=120)
)
def test_any_text_as_a_config_file_is_a_config_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        loads_config(text)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_in_a_config_file_are_a_config_or_a_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_bytes(data)
        with contextlib.suppress(ConfigError):
            load_config(path)


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from([key for key, _, _ in FIELDS]) | st.text(max_size=12),
    value=st.text(max_size=12) | toml_values,
)
def test_any_override_is_applied_or_a_config_error(key: str, value: Any) -> None:
    """What `--set KEY=VALUE` hands the config (text, or a value the CLI parsed)."""
    with contextlib.suppress(ConfigError):
        apply_overrides(RunConfig(), {key: value})


@pytest.mark.parametrize("digits", [400, 5000])
def test_an_integer_no_float_can_hold_is_a_config_error(digits: int) -> None:
    with pytest.raises(ConfigError):
        loads_config("[board]\nkomi = " + "9" * digits + "\n")


# ---------------------------------------------------------------------- crowd files


@pytest.fixture(scope="module")
def files() -> Iterator[Path]:
    """A folder with a text file and an empty folder, for checkpoint specs to name."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "notes.txt").write_text("not a network")
        (Path(folder) / "empty").mkdir()
        yield Path(folder)


def _specs(folder: Path) -> st.SearchStrategy[Any]:
    kinds = [kind for kind in known_kinds() if kind != "checkpoint"]
    checkpoints = [f"checkpoint:{folder / name}" for name in ("notes.txt", "empty", "none.pt")]
    return (
        st.builds(
            lambda kind, argument: f"{kind}:{argument}",
            st.sampled_from([*kinds, "bogus", ""]),
            st.text(max_size=8) | edge_numbers.map(str),
        )
        | st.sampled_from([*kinds, *checkpoints, "checkpoint:", "checkpoint:@3", " random "])
        | st.text(max_size=10)
        | toml_values
    )


def _crowds(folder: Path) -> st.SearchStrategy[dict[str, Any]]:
    specs = _specs(folder)
    member = st.fixed_dictionaries(
        {},
        optional={
            "spec": specs,
            "name": st.sampled_from(["a", "b", " ", ""]) | toml_values,
            "weight": edge_numbers | toml_values,
            "colour": toml_values,
        },
    )
    curriculum = st.fixed_dictionaries(
        {},
        optional={
            "enabled": st.booleans() | toml_values,
            "window": edge_numbers | INT64 | toml_values,
            "prior_games": edge_numbers | toml_values,
            "floor": edge_numbers | toml_values,
            "speed": toml_values,
        },
    )
    study = st.fixed_dictionaries(
        {}, optional={"held_out": st.lists(specs, max_size=3) | toml_values, "x": toml_values}
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "member": st.lists(member | toml_values, max_size=4) | toml_values,
            "curriculum": curriculum | toml_values,
            "study": study | toml_values,
            "extra": toml_values,
        },
    )


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), board_size=st.sampled_from([None, 5, 9, 19]))
def test_any_toml_shaped_crowd_file_is_a_crowd_or_a_crowd_error(
    files: Path, data: st.DataObject, board_size: int | None
) -> None:
    """Members are checked in full (as before a run is created), no engine started."""
    crowd = data.draw(_crowds(files))
    with contextlib.suppress(CrowdError):
        Crowd.from_toml(tomli_w.dumps(crowd), build_players=False, board_size=board_size).close()


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=200)
    | st.text(alphabet=st.sampled_from(list("[]=.\"' \n#0123456789:abegmnopsrtuw_-")), max_size=120)
)
def test_any_text_as_a_crowd_file_is_a_crowd_or_a_crowd_error(text: str) -> None:
    with contextlib.suppress(CrowdError):
        Crowd.from_toml(text, build_players=False).close()


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_in_a_crowd_file_are_a_crowd_or_a_crowd_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "crowd.toml"
        path.write_bytes(data)
        with contextlib.suppress(CrowdError):
            Crowd.load(path, build_players=False).close()


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[[member]]\nspec = "random"\nweight = 1' + "0" * 400, "weight is too large"),
        ('[[member]]\nspec = "random"\nweight = ' + "9" * 5000, "not valid TOML"),
        ("[curriculum]\nwindow = 1" + "0" * 30 + '\n[[member]]\nspec = "random"', "at most"),
        ('[curriculum]\nprior_games = nan\n[[member]]\nspec = "random"', "prior_games"),
        ('[curriculum]\nprior_games = inf\n[[member]]\nspec = "random"', "prior_games"),
        ('[curriculum]\nfloor = nan\n[[member]]\nspec = "random"', "floor"),
        ('[[member]]\nspec = "random"\nweight = nan', "weight"),
    ],
)
def test_numbers_out_of_reach_in_a_crowd_file_are_crowd_errors(toml: str, words: str) -> None:
    """Numbers past float range, with more digits than Python reads, nan and inf. The
    first three used to escape as OverflowError or ValueError, the two prior_games ones
    to be accepted and turn every draw weight into nan."""
    with pytest.raises(CrowdError, match=words):
        Crowd.from_toml(toml, build_players=False)

"""The typed run config: TOML loading, documented dumping and CLI overrides."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdzero.config_fields import FIELD_METADATA
from crowdzero.go.position import KoRule, Rules
from crowdzero.net.model import NetConfig
from crowdzero.search.config import SearchConfig
from crowdzero.train.config import (
    BoardConfig,
    ConfigError,
    RunConfig,
    TrainConfig,
    apply_overrides,
    dump_config,
    iter_fields,
    load_config,
    loads_config,
)


def test_defaults_survive_dump_and_load(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(dump_config(RunConfig()))
    assert load_config(path) == RunConfig()


def test_an_empty_file_gives_the_defaults() -> None:
    assert loads_config("") == RunConfig()


def test_sections_are_the_owners_dataclasses() -> None:
    cfg = RunConfig()
    assert isinstance(cfg.net, NetConfig)
    assert isinstance(cfg.search, SearchConfig)
    assert cfg.rules == Rules(size=9, komi=7.5, ko=KoRule.POSITIONAL)
    assert cfg.train.mode == "crowd"


def test_every_setting_is_documented_in_the_dumped_file() -> None:
    text = dump_config(RunConfig())
    lines = text.splitlines()
    for key, _, doc in iter_fields(RunConfig()):
        assert doc, f"{key} has no doc"
        section, name = key.rsplit(".", 1)
        start = lines.index(f"[{section}]")
        index = next(
            i
            for i, line in enumerate(lines)
            if i > start and (line.startswith(f"{name} = ") or line.startswith(f"# {name} = "))
        )
        comment: list[str] = []
        for line in reversed(lines[:index]):
            if not line.startswith("# "):
                break
            comment.insert(0, line[2:])
        assert " ".join(comment) == " ".join(doc.split()), key


search_values = st.fixed_dictionaries(
    {
        "board.size": st.integers(5, 19),
        "board.komi": st.sampled_from([0.0, 0.5, 5.5, 6.5, 7.5, -3.0]),
        "board.ko": st.sampled_from(["simple", "positional", "situational"]),
        "net.blocks": st.integers(0, 12),
        "net.ownership_head": st.just(True),
        "search.algorithm": st.sampled_from(["puct", "gumbel"]),
        "search.simulations": st.integers(1, 800),
        "search.dirichlet_alpha": st.floats(0.001, 10.0),
        "train.mode": st.sampled_from(["crowd", "self"]),
        "train.crowd": st.text(max_size=20),
        "train.learning_rate": st.floats(1e-6, 1.0),
        "train.symmetry_augmentation": st.booleans(),
        "train.minutes": st.floats(0.0, 1e4),
    }
)


@settings(max_examples=40, deadline=None)
@given(overrides=search_values)
def test_any_valid_config_survives_dump_and_load(overrides: dict) -> None:
    cfg = apply_overrides(RunConfig(), overrides)
    assert loads_config(dump_config(cfg)) == cfg


def test_net_board_size_follows_board_size() -> None:
    cfg = loads_config("[board]\nsize = 13\n")
    assert cfg.net.board_size == 13
    assert apply_overrides(RunConfig(), {"board.size": 7}).net.board_size == 7
    assert dataclasses.replace(RunConfig(), board=BoardConfig(size=5)).net.board_size == 5
    assert "\nboard_size =" not in dump_config(cfg)  # written only as a comment


def test_setting_net_board_size_points_at_board_size() -> None:
    with pytest.raises(ConfigError, match=r"net.board_size is set by board.size"):
        loads_config("[net]\nboard_size = 13\n", "run.toml")
    with pytest.raises(ConfigError, match=r"board.size"):
        apply_overrides(RunConfig(), {"net.board_size": 13})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[trian]\nmode = 'self'\n", r"run.toml: unknown key trian \(did you mean train\?\)"),
        ("[train]\nbatchsize = 3\n", r"run.toml: unknown key train.batchsize"),
        ("[board]\nsize = 9.5\n", r"run.toml: board.size must be an integer, not 9.5"),
        ("[board]\nsize = true\n", r"run.toml: board.size must be an integer"),
        ("[board]\nsize = 25\n", r"run.toml: \[board\] size must be at most 19, not 25"),
        ("[board]\nko = 'japanese'\n", r"run.toml: board.ko must be one of 'simple'"),
        ("[train]\nmode = 'both'\n", r"run.toml: train.mode must be one of 'crowd', 'self'"),
        ("[train]\nsymmetry_augmentation = 1\n", r"train.symmetry_augmentation must be true"),
        ("[train]\nlearning_rate = 0\n", r"\[train\] learning_rate must be more than 0"),
        ("[train]\nmin_replay = 300000\n", r"\[train\] min_replay \(300000\) cannot exceed"),
        ("[search]\nsimulations = 0\n", r"run.toml: \[search\] simulations must be at least 1"),
        ("[net]\nblocks = 'six'\n", r"run.toml: net.blocks must be an integer"),
        ("board = 9\n", r"run.toml: board must be a table"),
        ("[board\nsize = 9\n", r"run.toml: not valid TOML"),
        ("[net]\nownership_head = false\n", r"ownership_weight is 0.5 but net.ownership_head"),
    ],
)
def test_bad_files_name_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        loads_config(text, "run.toml")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")


def test_an_integer_is_accepted_for_a_float() -> None:
    cfg = loads_config("[board]\nkomi = 7\n")
    assert cfg.board.komi == 7.0 and isinstance(cfg.board.komi, float)


def test_overrides_take_dotted_keys_and_cli_text() -> None:
    base = RunConfig()
    cfg = apply_overrides(
        base,
        {
            "board.size": 13,
            "search.simulations": "32",
            "train.symmetry_augmentation": "false",
            "train.crowd": "crowds/novices.toml",
            "board.ko": "simple",
        },
    )
    assert (cfg.board.size, cfg.search.simulations) == (13, 32)
    assert cfg.train.symmetry_augmentation is False
    assert cfg.train.crowd == "crowds/novices.toml"
    assert cfg.board.ko is KoRule.SIMPLE
    assert base == RunConfig()  # the original is untouched


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"board.sise": 13}, r"unknown key board.sise \(did you mean size\?\)"),
        ({"bored.size": 13}, r"unknown key bored.size"),
        ({"search.simulations": 3.5}, r"search.simulations must be an integer"),
        ({"search.simulations": "many"}, r"search.simulations: cannot read 'many'"),
        ({"train.batch_size": 0}, r"train.batch_size: batch_size must be at least 1"),
        ({"board": 13}, r"board is a section"),
        ({"board.size.x": 1}, r"board.size is not a section"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(RunConfig(), overrides)


def test_max_moves_zero_means_twice_the_board_area() -> None:
    assert RunConfig().max_moves == 2 * 81
    assert apply_overrides(RunConfig(), {"board.size": 13}).max_moves == 2 * 169
    assert apply_overrides(RunConfig(), {"train.max_moves": 50}).max_moves == 50


def test_defaults_live_in_the_dataclasses() -> None:
    # The dumped file is generated from the dataclass defaults, not a second copy.
    data = tomllib.loads(dump_config(RunConfig()))
    for f in dataclasses.fields(TrainConfig):
        assert data["train"][f.name] == f.default
    assert data["board"]["ko"] == BoardConfig().ko.value


SECTIONS = (BoardConfig, NetConfig, SearchConfig, TrainConfig)


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.__name__)
def test_every_section_documents_and_bounds_its_fields_in_one_style(section: type) -> None:
    """Docs and bounds sit beside each field as metadata `check_fields` understands: a
    misspelt key ("mni") would silently drop a bound."""
    for f in dataclasses.fields(section):
        assert f.metadata.get("doc"), f"{section.__name__}.{f.name} has no doc"
        assert set(f.metadata) <= FIELD_METADATA, f"{section.__name__}.{f.name}"


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        (BoardConfig, {"size": 4}, "size must be at least 5, not 4"),
        (NetConfig, {"board_size": 20}, "board_size must be at most 19, not 20"),
        (NetConfig, {"channels": 0}, "channels must be at least 1, not 0"),
        (SearchConfig, {"algorithm": "alphabeta"}, "algorithm must be one of 'puct', 'gumbel'"),
        (SearchConfig, {"gumbel_c_scale": 0.0}, "gumbel_c_scale must be more than 0.0, not 0.0"),
        (SearchConfig, {"dirichlet_fraction": 1.5}, "dirichlet_fraction must be at most 1.0"),
        (TrainConfig, {"momentum": 1.0}, "momentum must be at most 0.999, not 1.0"),
    ],
)
def test_a_section_built_in_code_names_the_key_the_value_and_what_is_allowed(
    section: type, values: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        section(**values)


def test_a_network_setting_out_of_range_in_a_file_names_the_file_and_section() -> None:
    with pytest.raises(ConfigError, match=r"run.toml: \[net\] channels must be at least 1, not 0"):
        loads_config("[net]\nchannels = 0\n", "run.toml")


def test_a_run_shown_against_the_defaults_marks_only_the_keys_that_differ() -> None:
    cfg = apply_overrides(RunConfig(), {"search.simulations": 16, "board.size": 13})
    lines = dump_config(cfg, defaults=RunConfig()).splitlines()
    marked = [line for line in lines if "# default:" in line]
    assert marked == ["size = 13  # default: 9", "simulations = 16  # default: 64"]
    assert loads_config("\n".join(lines)) == cfg  # the marks are comments

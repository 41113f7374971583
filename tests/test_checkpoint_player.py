"""`checkpoint:` players: which file a spec means, and how its weights search."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pytest

from crowdzero.net.checkpoint import newest_loadable_checkpoint, save_checkpoint
from crowdzero.net.model import NetConfig, PolicyValueNet
from crowdzero.players.checkpoint import CheckpointPlayer
from crowdzero.players.registry import PlayerSpecError, make_player
from crowdzero.search.config import SearchConfig

NET = NetConfig(board_size=5, history=1, blocks=1, channels=8)
RUN_SEARCH = SearchConfig(simulations=7, c_puct_init=2.0, algorithm="puct")


def write(path: Path, step: int, metadata: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(path, PolicyValueNet(NET), step=step, metadata=metadata or {})


def play(spec: str) -> CheckpointPlayer:
    player = make_player(spec)
    assert isinstance(player, CheckpointPlayer)
    return player


def test_a_checkpoint_copied_out_of_its_run_still_searches_as_its_run_did(tmp_path: Path) -> None:
    recorded = {"run": "crowd-5x5", "search": dataclasses.asdict(RUN_SEARCH)}
    original = write(tmp_path / "crowd-5x5" / "checkpoints" / "ckpt-00000040.pt", 40, recorded)
    copied = tmp_path / "elsewhere" / "agent.pt"
    copied.parent.mkdir()
    shutil.copy(original, copied)
    player = play(f"checkpoint:{copied}")
    assert player.config == RUN_SEARCH
    assert player.name == "net:crowd-5x5@40"
    assert player.supports_size(5) and not player.supports_size(9)


def test_simulations_in_the_spec_override_the_recorded_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "a.pt", 3, {"search": dataclasses.asdict(RUN_SEARCH)})
    player = play(f"checkpoint:{path}@21")
    assert player.config == dataclasses.replace(RUN_SEARCH, simulations=21)


def test_a_file_that_records_no_search_settings_plays_with_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "old.pt", 5)
    player = play(f"checkpoint:{path}")
    assert player.config == SearchConfig()
    assert player.name == "net:old@5"


def test_recorded_settings_this_version_cannot_use_fall_back_to_defaults_and_say_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {**dataclasses.asdict(RUN_SEARCH), "simulations": -3, "from_the_future": 1}
    path = write(tmp_path / "odd.pt", 5, {"search": bad})
    with caplog.at_level(logging.WARNING):
        player = play(f"checkpoint:{path}")
    assert player.config == SearchConfig()
    assert "from_the_future" in caplog.text and "unusable" in caplog.text


def test_a_run_folder_means_its_newest_checkpoint_that_loads(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "checkpoints"
    write(folder / "ckpt-00000010.pt", 10)
    write(folder / "ckpt-00000020.pt", 20)
    (folder / "ckpt-00000030.pt").write_bytes(b"half a file")
    assert play(f"checkpoint:{tmp_path / 'run'}").name.endswith("@20")
    found = newest_loadable_checkpoint(folder)
    assert found is not None and found.step == 20


def test_newest_loadable_checkpoint_reports_each_file_it_skips(tmp_path: Path) -> None:
    write(tmp_path / "ckpt-00000001.pt", 1)
    (tmp_path / "ckpt-00000002.pt").write_bytes(b"")
    write(tmp_path / "ckpt-00000003.pt", 3, {"mode": "imitation"})
    skipped: list[Path] = []
    found = newest_loadable_checkpoint(
        tmp_path,
        accept=lambda c: c.metadata.get("mode") != "imitation",
        on_unusable=lambda path, reason: skipped.append(path),
    )
    assert found is not None and found.step == 1
    assert skipped == [tmp_path / "ckpt-00000002.pt"]
    assert newest_loadable_checkpoint(tmp_path / "missing") is None


def test_a_folder_without_a_usable_checkpoint_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "ckpt-00000001.pt").write_bytes(b"junk")
    with pytest.raises(PlayerSpecError, match="holds no usable checkpoint"):
        make_player(f"checkpoint:{tmp_path}")

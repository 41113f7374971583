"""Checkpoint files: round trip, atomic writes, and a readable error for every bad file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from crowdzero.net.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from crowdzero.net.model import NetConfig, PolicyValueNet

TINY = NetConfig(  # the new parts on (the defaults); block 1 is a global pooling block
    board_size=9,
    history=2,
    blocks=2,
    channels=8,
    policy_channels=4,
    value_channels=4,
    value_hidden=8,
)


class Stone:
    """A class of our own: pickling it stores a reference weights_only must refuse."""


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny nets gain nothing from two threads, and on shared cores they lose a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def trained_tiny_net(config: NetConfig = TINY) -> tuple[PolicyValueNet, torch.optim.Adam]:
    """A tiny net after two Adam steps, so weights, BN statistics and Adam moments are real."""
    torch.manual_seed(0)
    net = PolicyValueNet(config).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.rand(8, config.input_planes, config.board_size, config.board_size)
    for _ in range(2):
        out = net(x)
        loss = out.value.pow(2).mean() - F.log_softmax(out.policy_logits, 1)[:, 0].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval(), optimizer


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, PolicyValueNet, torch.optim.Adam]:
    net, optimizer = trained_tiny_net()
    path = save_checkpoint(
        tmp_path / "ckpt" / "step-100.pt",
        net,
        step=100,
        optimizer=optimizer,
        metadata={"run": "test", "mode": "crowd", "games_seen": 1234, "lr": [0.1, 0.01]},
    )
    return path, net, optimizer


def test_round_trip_gives_identical_outputs(saved) -> None:
    path, net, _ = saved
    checkpoint = load_checkpoint(path)
    restored = checkpoint.build_model()
    x = torch.rand(5, TINY.input_planes, 9, 9)
    with torch.no_grad():
        a, b = net(x), restored(x)
    assert torch.equal(a.policy_logits, b.policy_logits)
    assert torch.equal(a.value, b.value)
    assert a.ownership is not None and b.ownership is not None
    assert torch.equal(a.ownership, b.ownership)


def test_round_trip_keeps_step_config_metadata_and_optimizer(saved) -> None:
    path, _, optimizer = saved
    checkpoint = load_checkpoint(path, board_size=9)
    assert checkpoint.format_version == FORMAT_VERSION
    assert checkpoint.config == TINY
    assert checkpoint.step == 100
    assert checkpoint.metadata == {
        "run": "test",
        "mode": "crowd",
        "games_seen": 1234,
        "lr": [0.1, 0.01],
    }
    restored = checkpoint.build_model()
    fresh = torch.optim.Adam(restored.parameters(), lr=1.0)
    assert checkpoint.optimizer_state is not None
    fresh.load_state_dict(dict(checkpoint.optimizer_state))
    assert fresh.param_groups[0]["lr"] == pytest.approx(1e-2)
    original = optimizer.state_dict()["state"]
    for index, state in fresh.state_dict()["state"].items():
        assert torch.equal(state["exp_avg"], original[index]["exp_avg"])


def test_checkpoint_without_optimizer_loads(tmp_path: Path) -> None:
    net, _ = trained_tiny_net()
    path = save_checkpoint(tmp_path / "a.pt", net, step=0)
    checkpoint = load_checkpoint(path)
    assert checkpoint.optimizer_state is None
    assert checkpoint.metadata == {}


def test_file_holds_only_plain_types(saved) -> None:
    path, _, _ = saved
    # weights_only refuses any pickled class; this succeeding is the claim.
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION
    assert isinstance(payload["config"], dict)


def test_save_replaces_atomically_and_leaves_no_temp_files(saved) -> None:
    path, net, _ = saved
    save_checkpoint(path, net, step=200)
    assert load_checkpoint(path).step == 200
    assert sorted(p.name for p in path.parent.iterdir()) == ["step-100.pt"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_a_checkpoint_is_as_readable_as_the_umask_allows(
    tmp_path: Path, umask: int, mode: int
) -> None:
    """Like any file the run writes: a colleague or a worker machine's account reads the
    checkpoints unless the umask says otherwise (a temp file's 0600 would forbid it)."""
    before = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "c.pt", PolicyValueNet(TINY), step=1)
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_unsavable_metadata_leaves_existing_checkpoint_untouched(saved) -> None:
    path, net, _ = saved
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="plain values"):
        save_checkpoint(path, net, step=300, metadata={"when": object()})
    with pytest.raises(CheckpointError, match="plain values"):
        save_checkpoint(path, net, step=300, metadata={"x": np.float64(1.0)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["step-100.pt"]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_directory_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_truncated_checkpoint_is_reported(saved) -> None:
    path, _, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


@pytest.mark.parametrize("fraction", [0.001, 0.1, 0.5, 0.9, 0.999])
def test_checkpoint_cut_anywhere_is_reported(saved, fraction: float) -> None:
    path, _, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_flipped_byte_inside_the_weights_is_reported(saved) -> None:
    path, _, _ = saved
    data = bytearray(path.read_bytes())
    # The zip stores tensors uncompressed: find the stem weights' raw bytes and damage one.
    stem = torch.load(path, weights_only=True)["model"]["stem.conv.weight"]
    raw = stem.contiguous().numpy().tobytes()
    at = bytes(data).find(raw)
    assert at > 0
    data[at + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match the checksum"):
        load_checkpoint(path)


def test_empty_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_garbage_bytes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match=r"garbage\.pt .*(corrupt|truncated)"):
        load_checkpoint(path)


def test_pickled_classes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pickled.pt"
    torch.save({"format": "crowdzero-checkpoint", "x": Stone()}, path)
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(path)


def test_other_torch_files_are_not_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(PolicyValueNet(TINY).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a crowdzero checkpoint"):
        load_checkpoint(path)


def rewrite(path: Path, **changes: object) -> None:
    """Edit a real checkpoint's payload (plain dict) and write it back."""
    payload = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    torch.save(payload, path)


def test_wrong_format_version_is_reported(saved) -> None:
    path, _, _ = saved
    rewrite(path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(
        CheckpointError, match=f"format version {FORMAT_VERSION + 1}.*reads version"
    ):
        load_checkpoint(path)


def test_missing_keys_are_named(saved) -> None:
    path, _, _ = saved
    rewrite(path, config=None, step=None)
    with pytest.raises(CheckpointError, match="missing required keys: config, step"):
        load_checkpoint(path)


def test_board_size_mismatch_says_both_sizes(saved) -> None:
    path, _, _ = saved
    with pytest.raises(CheckpointError, match="is for 9x9, this run is 13x13"):
        load_checkpoint(path, board_size=13)


def test_config_that_does_not_match_the_weights_is_reported(saved) -> None:
    path, _, _ = saved
    payload = torch.load(path, weights_only=True)
    rewrite(path, config={**payload["config"], "blocks": 3, "channels": 16})
    with pytest.raises(CheckpointError, match=r"weights do not match its config \(3x16 on 9x9"):
        load_checkpoint(path)


def test_invalid_config_is_reported(saved) -> None:
    path, _, _ = saved
    payload = torch.load(path, weights_only=True)
    rewrite(path, config={**payload["config"], "board_size": 25})
    with pytest.raises(
        CheckpointError, match="invalid network config: board_size must be at most 19, not 25"
    ):
        load_checkpoint(path)
    rewrite(path, config={**payload["config"], "dropout": 0.5})
    with pytest.raises(CheckpointError, match="unknown network config keys: dropout"):
        load_checkpoint(path)


def test_weights_from_a_net_without_ownership_head_are_reported(tmp_path: Path) -> None:
    without = replace(TINY, ownership_head=False)
    path = save_checkpoint(tmp_path / "a.pt", PolicyValueNet(without), step=1)
    rewrite(path, config=TINY.to_dict())
    with pytest.raises(CheckpointError, match=r"ownership head on.*ownership"):
        load_checkpoint(path)


@pytest.mark.parametrize("size", [5, 13, 19])
def test_other_board_sizes_round_trip(tmp_path: Path, size: int) -> None:
    config = replace(TINY, board_size=size)
    net = PolicyValueNet(config).eval()
    path = save_checkpoint(tmp_path / "a.pt", net, step=7)
    restored = load_checkpoint(path, board_size=size).build_model()
    x = torch.rand(2, config.input_planes, size, size)
    with torch.no_grad():
        assert torch.equal(net(x).policy_logits, restored(x).policy_logits)


def test_a_fused_net_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    net, _ = trained_tiny_net()
    with pytest.raises(CheckpointError, match="batch norms folded in"):
        save_checkpoint(tmp_path / "a.pt", net.fused(), step=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit, via compile
def test_a_compiled_net_saves_under_its_plain_weight_names(tmp_path: Path) -> None:
    net, _ = trained_tiny_net()
    compiled = torch.compile(net)  # lazy: nothing is compiled until it is called
    path = save_checkpoint(tmp_path / "a.pt", compiled, step=1)  # type: ignore[arg-type]
    assert set(load_checkpoint(path).model_state) == set(net.state_dict())


# --- checkpoints from before the liberty planes, global pooling and auxiliary heads ---------

DATA = Path(__file__).parent / "data"
NEW_KEYS = ("liberty_features", "global_pooling", "score_head", "opponent_policy_head")


def test_a_checkpoint_written_before_the_new_net_parts_loads_and_answers_as_before() -> None:
    """tests/data/legacy_v1_*.pt were written by the network and checkpoint code of commit
    9344357 (2 blocks x 8 channels, history 2), with that net's outputs on a fixed input."""
    payload = torch.load(DATA / "legacy_v1_checkpoint.pt", weights_only=True)
    assert not set(NEW_KEYS) & set(payload["config"])  # really the old format
    checkpoint = load_checkpoint(DATA / "legacy_v1_checkpoint.pt", board_size=9)
    config = checkpoint.config
    assert not any(getattr(config, key) for key in NEW_KEYS)
    assert config.input_planes == 2 * config.history + 1 == 5
    assert config.features.planes == 5 and not config.features.liberties
    expected = torch.load(DATA / "legacy_v1_outputs.pt", weights_only=True)
    net = checkpoint.build_model()
    with torch.no_grad():
        out = net(expected["input"])
    # The same weights and ops; only float summation order may differ (thread counts).
    assert out.ownership is not None
    for name, got in (
        ("policy_logits", out.policy_logits),
        ("value", out.value),
        ("ownership", out.ownership),
    ):
        torch.testing.assert_close(got, expected[name], rtol=0.0, atol=1e-6)
    assert out.score is None and out.opponent_policy_logits is None


def test_an_old_checkpoint_saved_again_keeps_its_old_shape(tmp_path: Path) -> None:
    old = load_checkpoint(DATA / "legacy_v1_checkpoint.pt")
    path = save_checkpoint(tmp_path / "again.pt", old.build_model(), step=old.step + 1)
    again = load_checkpoint(path)
    assert again.config == old.config
    stored = torch.load(path, weights_only=True)["config"]
    assert all(stored[key] is False for key in NEW_KEYS)


def test_a_config_without_the_new_keys_builds_the_old_weight_names(tmp_path: Path) -> None:
    """The same check without the stored file: drop the new keys from a saved config and
    the weights of the matching old-style net load; the new defaults' weights do not."""
    old_style = replace(TINY, **{key: False for key in NEW_KEYS})
    path = save_checkpoint(tmp_path / "a.pt", PolicyValueNet(old_style), step=1)
    config = {k: v for k, v in old_style.to_dict().items() if k not in NEW_KEYS}
    rewrite(path, config=config)
    assert load_checkpoint(path).config == old_style
    new_style = save_checkpoint(tmp_path / "b.pt", PolicyValueNet(TINY), step=1)
    rewrite(new_style, config=config)
    with pytest.raises(CheckpointError, match=r"do not match its config.*global pooling off"):
        load_checkpoint(new_style)


def test_a_new_checkpoint_round_trips_every_head(saved) -> None:
    path, net, _ = saved
    assert all(getattr(TINY, key) for key in NEW_KEYS)
    restored = load_checkpoint(path).build_model()
    x = torch.rand(3, TINY.input_planes, 9, 9)
    with torch.no_grad():
        a, b = net(x), restored(x)
    assert a.score is not None and b.score is not None and torch.equal(a.score, b.score)
    assert a.opponent_policy_logits is not None and b.opponent_policy_logits is not None
    assert torch.equal(a.opponent_policy_logits, b.opponent_policy_logits)

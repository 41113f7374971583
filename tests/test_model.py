"""PolicyValueNet shapes and ranges, its optional parts, and TorchEvaluator (the search's
view of the net)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from crowdzero.net.checkpoint import CheckpointError, save_checkpoint
from crowdzero.net.evaluator import TorchEvaluator, load_evaluator
from crowdzero.net.model import LEGACY_DEFAULTS, GlobalPoolingBlock, NetConfig, PolicyValueNet
from crowdzero.net.symmetry import SYMMETRIES, inverse, transform_planes, transform_policy


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny nets gain nothing from two threads, and on shared cores they lose a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(size: int = 9, **overrides: Any) -> NetConfig:
    """1 block x 8 channels: enough to exercise every path, fast enough for every test."""
    base = NetConfig(
        board_size=size,
        history=2,
        blocks=1,
        channels=8,
        policy_channels=4,
        value_channels=4,
        value_hidden=8,
    )
    return replace(base, **overrides)


def evaluator_for(net: PolicyValueNet, **options: Any) -> TorchEvaluator:
    """One torch thread: these nets are tiny, and the test machine's cores are shared."""
    return TorchEvaluator(net, threads=1, **options)


def random_features(batch: int, config: NetConfig, seed: int = 0) -> np.ndarray:
    """Stones, a colour plane and random 0/1 liberty and ko planes (when the net reads them)."""
    rng = np.random.default_rng(seed)
    n = config.board_size
    stones = rng.integers(0, 3, size=(batch, config.history, n, n))
    colour = np.ones((batch, 1, n, n), np.float32)
    extra = config.input_planes - 2 * config.history - 1
    other = (rng.random((batch, extra, n, n)) < 0.2).astype(np.float32)
    return np.concatenate(
        ((stones == 1).astype(np.float32), (stones == 2).astype(np.float32), colour, other),
        axis=1,
    )


def settled_net(config: NetConfig) -> PolicyValueNet:
    """A net whose batch norms have non-trivial running statistics (a few train-mode passes)."""
    torch.manual_seed(1)
    net = PolicyValueNet(config).train()
    with torch.no_grad():
        for seed in range(3):
            net(torch.from_numpy(random_features(16, config, seed)) * 2.0)
    return net.eval()


@pytest.mark.parametrize("size", [5, 9, 13, 19])
def test_outputs_have_the_contract_shapes_for_every_board_size(size: int) -> None:
    config = tiny(size)
    net = PolicyValueNet(config).eval()
    with torch.no_grad():
        out = net(torch.from_numpy(random_features(3, config)))
    assert out.policy_logits.shape == (3, size * size + 1)
    assert out.value.shape == (3,)
    assert out.ownership is not None and out.ownership.shape == (3, size * size)
    assert out.policy_logits.dtype == out.value.dtype == torch.float32


def test_value_and_ownership_lie_in_minus_one_to_one() -> None:
    config = tiny()
    net = PolicyValueNet(config).eval()
    with torch.no_grad():
        out = net(torch.from_numpy(random_features(32, config)) * 50.0)
    assert out.ownership is not None
    assert out.value.abs().max() <= 1.0
    assert out.ownership.abs().max() <= 1.0


def test_ownership_head_can_be_left_out() -> None:
    with_head = PolicyValueNet(tiny())
    without = PolicyValueNet(tiny(ownership_head=False))
    with torch.no_grad():
        out = without(torch.from_numpy(random_features(2, tiny())))
    assert out.ownership is None
    assert without.parameter_count() < with_head.parameter_count()


def test_default_config_is_six_blocks_of_sixty_four_on_nine_by_nine() -> None:
    config = NetConfig()
    assert (config.board_size, config.blocks, config.channels) == (9, 6, 64)
    assert config.input_planes == 9 + 7 and config.num_actions == 82
    assert config.liberty_features and config.global_pooling
    assert config.score_head and config.opponent_policy_head
    assert config.describe() == "6x64 on 9x9"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"board_size": 4}, "board_size must be at least 5, not 4"),
        ({"board_size": 20}, "board_size must be at most 19, not 20"),
        ({"history": 0}, "history"),
        ({"channels": 0}, "channels"),
        ({"blocks": -1}, "blocks"),
    ],
)
def test_config_refuses_impossible_values(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NetConfig(**fields)


def test_config_round_trips_through_a_plain_dict() -> None:
    config = tiny(13, ownership_head=False)
    data = config.to_dict()
    assert all(type(v) in (int, bool) for v in data.values())
    assert NetConfig.from_dict(data) == config


def test_forward_names_the_expected_input_shape() -> None:
    net = PolicyValueNet(tiny())
    with pytest.raises(ValueError, match=r"expected input \[B, 12, N, N\]"):
        net(torch.zeros(1, 9, 9, 9))


def test_pass_logit_depends_on_the_position() -> None:
    config = tiny()
    net = settled_net(config)
    with torch.no_grad():
        out = net(torch.from_numpy(random_features(8, config)))
    assert out.policy_logits[:, -1].std() > 0


def test_fused_net_gives_the_same_outputs() -> None:
    config = tiny(blocks=2)
    net = settled_net(config)
    fused = net.fused()
    x = torch.from_numpy(random_features(6, config, seed=5))
    with torch.no_grad():
        a, b = net(x), fused(x)
    torch.testing.assert_close(a.policy_logits, b.policy_logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a.value, b.value, atol=1e-5, rtol=1e-4)
    assert a.score is not None and b.score is not None
    torch.testing.assert_close(a.score, b.score, atol=1e-5, rtol=1e-4)
    assert a.opponent_policy_logits is not None and b.opponent_policy_logits is not None
    torch.testing.assert_close(
        a.opponent_policy_logits, b.opponent_policy_logits, atol=1e-5, rtol=1e-4
    )
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_a_few_adam_steps_fit_a_small_batch() -> None:
    config = tiny()
    torch.manual_seed(0)
    net = PolicyValueNet(config).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    x = torch.from_numpy(random_features(16, config))
    target_move = torch.arange(16) % config.num_actions
    target_value = torch.linspace(-0.9, 0.9, 16)

    def loss() -> torch.Tensor:
        out = net(x)
        return F.cross_entropy(out.policy_logits, target_move) + F.mse_loss(out.value, target_value)

    first = loss().item()
    for _ in range(60):
        optimizer.zero_grad()
        step_loss = loss()
        step_loss.backward()
        optimizer.step()
    assert loss().item() < 0.7 * first


# --- TorchEvaluator -------------------------------------------------------------------------


def test_evaluator_returns_numpy_float32_matching_the_net() -> None:
    config = tiny()
    net = settled_net(config)
    features = random_features(4, config)
    evaluator = evaluator_for(net)
    policy, value = evaluator.evaluate(features)
    assert isinstance(policy, np.ndarray) and isinstance(value, np.ndarray)
    assert policy.dtype == value.dtype == np.float32
    assert policy.shape == (4, 82) and value.shape == (4,)
    assert evaluator.feature_spec == config.features
    with torch.no_grad():
        out = net(torch.from_numpy(features))
    np.testing.assert_allclose(policy, out.policy_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(value, out.value.numpy(), atol=1e-5)


@pytest.mark.parametrize(("channels_last", "fuse"), [(False, False), (True, False), (False, True)])
def test_evaluator_options_do_not_change_the_answer(channels_last: bool, fuse: bool) -> None:
    config = tiny()
    net = settled_net(config)
    features = random_features(5, config)
    reference = evaluator_for(net).evaluate(features)
    other = evaluator_for(net, channels_last=channels_last, fuse=fuse).evaluate(features)
    np.testing.assert_allclose(other[0], reference[0], atol=1e-4)
    np.testing.assert_allclose(other[1], reference[1], atol=1e-5)


def test_evaluator_keeps_its_own_copy_of_the_weights() -> None:
    config = tiny()
    net = settled_net(config)
    features = random_features(2, config)
    evaluator = evaluator_for(net)
    before = evaluator.evaluate(features)[1].copy()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    np.testing.assert_array_equal(evaluator.evaluate(features)[1], before)


def test_averaged_symmetry_evaluation_is_invariant_under_board_symmetry() -> None:
    config = tiny(7)
    evaluator = evaluator_for(settled_net(config), symmetry="average")
    features = random_features(3, config)
    policy, value = evaluator.evaluate(features)
    for s in SYMMETRIES:
        moved_policy, moved_value = evaluator.evaluate(transform_planes(features, s))
        np.testing.assert_allclose(moved_policy, transform_policy(policy, s), atol=1e-4)
        np.testing.assert_allclose(moved_value, value, atol=1e-5)
    # The averaged policy is a log-probability vector.
    np.testing.assert_allclose(np.exp(policy).sum(axis=1), 1.0, atol=1e-5)


def test_random_symmetry_evaluation_maps_the_answer_back_to_the_board() -> None:
    config = tiny(7)
    net = settled_net(config)
    plain = evaluator_for(net)
    evaluator = evaluator_for(net, symmetry="random", seed=0)
    features = random_features(2, config)
    # Each candidate: ask the net about the board under s, map its policy back with s^-1.
    candidates = []
    for s in SYMMETRIES:
        p, v = plain.evaluate(transform_planes(features, s))
        candidates.append((transform_policy(p, inverse(s)), v))
    used = set()
    for _ in range(40):
        policy, value = evaluator.evaluate(features)
        matches = [
            s
            for s, (p, v) in enumerate(candidates)
            if np.allclose(policy, p, atol=1e-4) and np.allclose(value, v, atol=1e-5)
        ]
        assert matches
        used.add(matches[0])
    assert len(used) > 4


def test_ownership_comes_back_in_board_orientation() -> None:
    config = tiny(7)
    net = settled_net(config)
    features = random_features(2, config)
    _, _, own = evaluator_for(net).evaluate_with_ownership(features)
    _, _, averaged = evaluator_for(net, symmetry="average").evaluate_with_ownership(features)
    assert own is not None and averaged is not None and own.shape == averaged.shape == (2, 49)
    _, _, moved = evaluator_for(net, symmetry="average").evaluate_with_ownership(
        transform_planes(features, 5)
    )
    assert moved is not None
    np.testing.assert_allclose(
        moved, transform_planes(averaged.reshape(2, 7, 7), 5).reshape(2, 49), atol=1e-5
    )


def test_evaluator_refuses_features_for_another_board_or_history() -> None:
    evaluator = evaluator_for(PolicyValueNet(tiny()))
    with pytest.raises(ValueError, match=r"expected features \[B, 12, 9, 9\]"):
        evaluator.evaluate(np.zeros((1, 12, 13, 13), np.float32))
    with pytest.raises(ValueError, match="history 2 with liberty and ko planes"):
        evaluator.evaluate(np.zeros((1, 9, 9, 9), np.float32))
    with pytest.raises(ValueError, match="symmetry must be one of"):
        TorchEvaluator(PolicyValueNet(tiny()), threads=1, symmetry="sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize("symmetry", ["none", "random", "average"])
def test_an_empty_batch_gives_empty_answers(symmetry: Any) -> None:
    evaluator = evaluator_for(PolicyValueNet(tiny()), symmetry=symmetry)
    policy, value = evaluator.evaluate(np.zeros((0, 12, 9, 9), np.float32))
    assert policy.shape == (0, 82) and value.shape == (0,)


def test_evaluator_accepts_float64_and_non_contiguous_input() -> None:
    config = tiny()
    evaluator = evaluator_for(settled_net(config))
    features = random_features(3, config)
    expected = evaluator.evaluate(features)[0]
    strided = np.asfortranarray(features.astype(np.float64))
    np.testing.assert_allclose(evaluator.evaluate(strided)[0], expected, atol=1e-5)


def test_load_evaluator_reads_a_checkpoint(tmp_path: Path) -> None:
    config = tiny()
    net = settled_net(config)
    path = save_checkpoint(tmp_path / "net.pt", net, step=3)
    features = random_features(2, config)
    expected = evaluator_for(net).evaluate(features)
    loaded = load_evaluator(path, board_size=9, threads=1)
    np.testing.assert_allclose(loaded.evaluate(features)[0], expected[0], atol=1e-5)
    with pytest.raises(CheckpointError, match="is for 9x9, this run is 19x19"):
        load_evaluator(path, board_size=19, threads=1)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit, via compile
def test_compiled_evaluator_matches_eager() -> None:
    config = tiny()
    net = settled_net(config)
    features = random_features(4, config)
    eager = evaluator_for(net).evaluate(features)
    compiled = evaluator_for(net, compile=True).evaluate(features)
    np.testing.assert_allclose(compiled[0], eager[0], atol=1e-4)
    np.testing.assert_allclose(compiled[1], eager[1], atol=1e-5)


def test_torch_evaluator_satisfies_the_search_protocol_on_real_positions() -> None:
    from crowdzero.go.features import batch_features
    from crowdzero.go.position import Position, Rules
    from crowdzero.search.evaluator import Evaluator

    evaluator: Evaluator = evaluator_for(settled_net(tiny()))
    assert isinstance(evaluator, Evaluator)
    positions = [Position(Rules(size=9)) for _ in range(3)]
    positions[1].play(40)
    positions[2].play(40)
    positions[2].play(81)  # pass
    logits, value = evaluator.evaluate(batch_features(positions, evaluator.feature_spec))
    assert logits.shape == (3, 82) and value.shape == (3,)
    assert np.isfinite(logits).all() and (np.abs(value) <= 1).all()


# --- liberty planes, global pooling and the auxiliary heads ----------------------------------

OLD_PARTS_OFF = dict.fromkeys(LEGACY_DEFAULTS, False)


@pytest.mark.parametrize("size", [5, 9, 19])
def test_the_auxiliary_heads_have_the_contract_shapes(size: int) -> None:
    config = tiny(size)
    with torch.no_grad():
        out = PolicyValueNet(config).eval()(torch.from_numpy(random_features(3, config)))
    assert out.score is not None and out.score.shape == (3,)
    assert out.opponent_policy_logits is not None
    assert out.opponent_policy_logits.shape == (3, size * size + 1)
    assert not torch.equal(out.opponent_policy_logits, out.policy_logits)


def test_each_new_part_can_be_turned_off() -> None:
    config = tiny(blocks=2, **OLD_PARTS_OFF)
    net = PolicyValueNet(config).eval()
    assert config.input_planes == 2 * config.history + 1
    assert not any(isinstance(block, GlobalPoolingBlock) for block in net.tower)
    with torch.no_grad():
        out = net(torch.from_numpy(random_features(2, config)))
    assert out.score is None and out.opponent_policy_logits is None
    assert out.ownership is not None
    for key in LEGACY_DEFAULTS:
        one_on = PolicyValueNet(replace(config, **{key: True}))
        assert one_on.parameter_count() > net.parameter_count(), key


def test_a_config_dict_without_the_new_keys_means_the_old_net() -> None:
    data = tiny().to_dict()
    for key in LEGACY_DEFAULTS:
        del data[key]
    assert NetConfig.from_dict(data) == tiny(**OLD_PARTS_OFF)
    assert NetConfig.from_dict(tiny().to_dict()) == tiny()  # present keys are kept


def test_a_config_dict_with_an_unknown_key_is_still_refused() -> None:
    with pytest.raises(ValueError, match="unknown network config keys: dropout"):
        NetConfig.from_dict({**tiny().to_dict(), "dropout": 0.1})
    with pytest.raises(ValueError, match="unknown network config keys: dropout"):
        NetConfig.from_dict({"board_size": 9, "dropout": 0.1})


def test_global_pooling_blocks_are_every_third_starting_with_the_second() -> None:
    net = PolicyValueNet(tiny(blocks=6))
    assert [isinstance(b, GlobalPoolingBlock) for b in net.tower] == [
        False, True, False, False, True, False,
    ]  # fmt: skip


def test_global_pooling_carries_a_far_stone_across_the_board() -> None:
    """Two blocks of 3x3 convolutions see 5 points away; on 19x19 a stone in one corner
    cannot move the point logits of the other corner, unless a block pools the board."""
    far_corner = (18 * 19 + 18, 18 * 19 + 17)  # the points next to T19
    for pooling in (False, True):
        config = tiny(19, blocks=2, global_pooling=pooling)
        net = settled_net(config)
        x = torch.from_numpy(random_features(1, config))
        moved = x.clone()
        moved[0, 0, 0, 0] = 1.0 - moved[0, 0, 0, 0]  # flip A1 on the own-stones plane
        with torch.no_grad():
            a, b = net(x), net(moved)
        changed = not torch.equal(
            a.policy_logits[0, list(far_corner)], b.policy_logits[0, list(far_corner)]
        )
        assert changed == pooling


def test_the_score_head_is_not_squashed() -> None:
    """Scores are area margins / N*N: near +-1 for a board won outright, plus komi, so
    the head is linear rather than tanh (a target of -1.08 stays reachable)."""
    config = tiny()
    net = PolicyValueNet(config).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.from_numpy(random_features(8, config))
    target = torch.full((8,), -1.5)
    for _ in range(150):
        out = net(x)
        assert out.score is not None
        loss = F.mse_loss(out.score, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    assert config.score_scale == 81.0


def test_predict_gives_every_head_in_board_orientation_and_points() -> None:
    config = tiny(7)
    net = settled_net(config)
    features = random_features(3, config)
    with torch.no_grad():
        out = net(torch.from_numpy(features))
    answer = evaluator_for(net).predict(features)
    assert answer.score_margin is not None and answer.opponent_policy_logits is not None
    assert answer.ownership is not None
    assert out.score is not None and out.opponent_policy_logits is not None
    np.testing.assert_allclose(answer.score_margin, out.score.numpy() * 49, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        answer.opponent_policy_logits, out.opponent_policy_logits.numpy(), atol=1e-4
    )
    np.testing.assert_allclose(answer.policy_logits, out.policy_logits.numpy(), atol=1e-4)
    # An old-style net has no such heads: the fields are None.
    old = evaluator_for(settled_net(tiny(7, **OLD_PARTS_OFF))).predict(
        random_features(2, tiny(7, **OLD_PARTS_OFF))
    )
    assert old.score_margin is None and old.opponent_policy_logits is None


def test_averaged_predictions_are_invariant_under_board_symmetry() -> None:
    config = tiny(7, blocks=2)
    evaluator = evaluator_for(settled_net(config), symmetry="average")
    features = random_features(2, config)
    base = evaluator.predict(features)
    assert base.score_margin is not None and base.opponent_policy_logits is not None
    for s in SYMMETRIES:
        moved = evaluator.predict(transform_planes(features, s))
        assert moved.score_margin is not None and moved.opponent_policy_logits is not None
        np.testing.assert_allclose(moved.score_margin, base.score_margin, atol=1e-4)
        np.testing.assert_allclose(
            moved.opponent_policy_logits,
            transform_policy(base.opponent_policy_logits, s),
            atol=1e-4,
        )
    np.testing.assert_allclose(np.exp(base.opponent_policy_logits).sum(axis=1), 1.0, atol=1e-5)


def test_random_symmetry_maps_the_opponent_policy_back_with_the_policy() -> None:
    config = tiny(7, blocks=2)
    net = settled_net(config)
    plain = evaluator_for(net)
    features = random_features(2, config)
    candidates = []
    for s in SYMMETRIES:
        answer = plain.predict(transform_planes(features, s))
        assert answer.opponent_policy_logits is not None
        candidates.append(
            (
                transform_policy(answer.policy_logits, inverse(s)),
                transform_policy(answer.opponent_policy_logits, inverse(s)),
                answer.score_margin,
            )
        )
    evaluator = evaluator_for(net, symmetry="random", seed=1)
    for _ in range(12):
        answer = evaluator.predict(features)
        assert any(
            np.allclose(answer.policy_logits, p, atol=1e-4)
            and np.allclose(answer.opponent_policy_logits, o, atol=1e-4)  # type: ignore[arg-type]
            and np.allclose(answer.score_margin, m, atol=1e-4)  # type: ignore[arg-type]
            for p, o, m in candidates
        )


@pytest.mark.parametrize(("channels_last", "fuse"), [(False, False), (True, True)])
def test_evaluator_options_do_not_change_the_auxiliary_heads(
    channels_last: bool, fuse: bool
) -> None:
    config = tiny(blocks=2)
    net = settled_net(config)
    features = random_features(4, config)
    reference = evaluator_for(net, channels_last=False, fuse=False).predict(features)
    other = evaluator_for(net, channels_last=channels_last, fuse=fuse).predict(features)
    assert reference.score_margin is not None and other.score_margin is not None
    np.testing.assert_allclose(other.score_margin, reference.score_margin, atol=1e-3)
    assert other.opponent_policy_logits is not None
    assert reference.opponent_policy_logits is not None
    np.testing.assert_allclose(
        other.opponent_policy_logits, reference.opponent_policy_logits, atol=1e-4
    )

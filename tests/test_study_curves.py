"""Curves over training: every checkpoint of a tiny 5x5 crowd run, a self-play run and
the imitation agent's snapshots against a crowd with a flawed member, its held-out twin
and real GnuGo; resumable, with the search's agreement on member-vs-member games."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from tiny_run import TINY_RUN, stored_run
from typer.testing import CliRunner

from crowdzero.analysis.arena import play_match
from crowdzero.analysis.inference import Estimate
from crowdzero.analysis.study.curves import (
    CACHE_NAME,
    EXPLOITATION_FIGURE,
    STORE_NAME,
    CurveError,
    CurvePoint,
    CurveRow,
    CurveSettings,
    check_curves,
    curves_main,
    every_kth,
    gap_contrasts,
    imitation_points,
    nearest_points,
    run_points,
)
from crowdzero.analysis.study.imitation_agent import FitPlan, train_imitation
from crowdzero.cli import app
from crowdzero.net.checkpoint import save_checkpoint
from crowdzero.net.model import PolicyValueNet
from crowdzero.players.registry import make_player
from crowdzero.store.game_store import GameStore
from crowdzero.train.run_dir import RunDir

runner = CliRunner()
FLAWED = "flawed:ladder-runner:heuristic:plain"
TWIN = "heuristic:plain"
CROWD = f"""
[study]
held_out = ["{TWIN}", "gnugo:0"]

[[member]]
spec = "random"

[[member]]
spec = "{FLAWED}"
"""


def _runs(root: Path) -> tuple[RunDir, RunDir]:
    crowd_file = root / "crowd.toml"
    crowd_file.write_text(CROWD)
    members = [make_player("random:1"), make_player(FLAWED)]
    crowd = stored_run(
        root / "crowd",
        {**TINY_RUN, "train.mode": "crowd", "train.crowd": str(crowd_file)},
        members,
        8,
        step=6,
    )
    # An older checkpoint, also copied aside as the 1-minute mark (one point, not two).
    older = crowd.checkpoint_path(3)
    save_checkpoint(older, PolicyValueNet(crowd.config.net), step=3)
    (crowd.path / "marks").mkdir()
    shutil.copyfile(older, crowd.path / "marks" / "mark-1min.pt")
    crowd.append_metrics({"wall_s": 40.0, "cpu_s": 70.0, "step": 3})
    crowd.append_metrics({"wall_s": 90.0, "cpu_s": 160.0, "step": 6})
    self_play = stored_run(root / "self", {**TINY_RUN, "train.mode": "self"}, [], 1, step=5)
    return crowd, self_play


def test_every_kth_point_counts_back_from_the_newest() -> None:
    points = [CurvePoint("crowd", Path(f"{k}.pt"), k, None, None) for k in range(1, 6)]
    assert [p.step for p in every_kth(points, 2)] == [1, 3, 5]
    assert [p.step for p in every_kth(points, 3)] == [2, 5]
    assert [p.step for p in every_kth(points, 9)] == [5]


def test_the_imitation_agent_is_drawn_at_the_snapshots_nearest_the_marks() -> None:
    snapshots = [
        CurvePoint("imitation", Path(f"{k}.pt"), k, None, None) for k in range(200, 8200, 200)
    ]
    final = CurvePoint("imitation", Path("final.pt"), 8168, None, None)
    marks = [1082, 2451, 3698, 4572, 5433, 6312, 7244, 8163]  # crowd-9x9-twins' mark steps
    chosen = nearest_points([*snapshots, final], marks)
    assert [p.step for p in chosen] == [1000, 2400, 3600, 4600, 5400, 6400, 7200, 8168]
    # A tie goes to the later snapshot; the newest is always kept; nothing twice.
    assert [p.step for p in nearest_points(snapshots[:3], [300, 300, 100])] == [200, 400, 600]
    assert nearest_points([], marks) == []


def _row(label: str, step: int, gap: float | None, se: float = 0.1) -> CurveRow:
    point = CurvePoint(label, Path(f"{label}-{step}.pt"), step, step / 10, None)
    pooled = None if gap is None else Estimate(gap, se, gap - 0.2, gap + 0.2, 40, 20)
    return CurveRow(point, f"{label}-agent@{step}", {}, {}, {}, {}, pooled)


def test_the_crowd_agents_exploitation_is_contrasted_with_each_control_point_by_point() -> None:
    rows = [
        _row("crowd", 20, 0.3),
        _row("crowd", 10, 0.1),  # rows in any order: points pair by step
        _row("self", 15, 0.0),
        _row("self", 30, -0.1),
        _row("imitation", 40, 0.2),
    ]
    contrasts, notes = gap_contrasts(rows)
    assert [(c.control, c.order, c.agent_step, c.control_step) for c in contrasts] == [
        ("self", 1, 10, 15),
        ("self", 2, 20, 30),
    ]
    assert [c.estimate.value for c in contrasts] == pytest.approx([0.1, 0.4])
    assert contrasts[0].estimate.se == pytest.approx(0.1 * 2**0.5) and contrasts[0].minutes == 1.0
    assert notes == (
        "no exploitation contrast of crowd with imitation: 2 points against 1, which do not pair",
    )
    # A point without a pooled gap (no twin pair measured) is skipped, not paired wrong.
    contrasts, _ = gap_contrasts([*rows[:3], _row("self", 30, None)])
    assert [c.order for c in contrasts] == [1]
    assert gap_contrasts(rows[2:]) == ((), ())  # no crowd agent: nothing to contrast


def test_curves_measure_every_checkpoint_and_resume(tmp_path: Path, gnugo_path: str) -> None:
    crowd, self_play = _runs(tmp_path)
    points = run_points(crowd, "crowd")
    assert [(p.step, p.minutes, p.cpu_seconds) for p in points] == [(3, 1.0, 70.0), (6, 1.5, 160.0)]
    assert points[0].checkpoint.name == "mark-1min.pt"
    assert [p.checkpoint.name for p in run_points(crowd, "crowd", "marks")] == ["mark-1min.pt"]
    only = run_points(crowd, "crowd", "checkpoints")
    assert [(p.checkpoint.name, p.minutes) for p in only] == [
        ("ckpt-00000003.pt", 40 / 60),
        ("ckpt-00000006.pt", 1.5),
    ]
    # The final checkpoint is written after the last metrics row: it takes that row's clock.
    save_checkpoint(crowd.checkpoint_path(7), PolicyValueNet(crowd.config.net), step=7)
    assert (run_points(crowd, "crowd")[-1].step, run_points(crowd, "crowd")[-1].minutes) == (7, 1.5)
    crowd.checkpoint_path(7).unlink()

    imitation = tmp_path / "study" / "imitation"
    plan = FitPlan(steps=4, threads=1, holdout_every=2, snapshot_every=2)
    train_imitation(crowd, imitation, plan)
    snapshots = imitation_points(imitation)
    assert [p.step for p in snapshots] == [2, 4]
    assert all(p.minutes is not None and p.cpu_seconds is not None for p in snapshots)
    again = train_imitation(crowd, imitation, plan)  # the final weights, not a snapshot
    assert again.reused and again.steps == 4

    member_games = tmp_path / "members.sqlite"
    result = play_match(make_player("random:5"), make_player(FLAWED), 3, crowd.config.rules)
    with GameStore(member_games) as store:
        for game in result.games:
            store.add_game(game, source="arena")

    # With only the marks, the imitation agent is drawn at the snapshot nearest the crowd
    # run's one mark (step 3: the tie goes to step 4, also its newest point).
    marks_only = CurveSettings((crowd.path,), imitation=imitation, points="marks")
    assert [(p.label, p.step) for p in check_curves(marks_only).points] == [
        ("crowd", 3),
        ("imitation", 4),
    ]

    out = tmp_path / "curves"
    settings = CurveSettings(
        (crowd.path, self_play.path),
        imitation=imitation,
        out_dir=out,
        games=2,
        member_games=member_games,
        positions=10,
        threads=1,
        concurrency=8,
    )
    said: list[str] = []
    curves = curves_main(settings, on_progress=said.append)
    assert any(line.startswith("  25 of 40 games stored (") for line in said)  # a long run talks
    opponents = {"random", FLAWED, TWIN, "gnugo:0"}
    assert curves.twins == {FLAWED: TWIN} and set(curves.held_out) == {TWIN, "gnugo:0"}
    assert [(r.point.label, r.point.step) for r in curves.rows] == [
        ("crowd", 3),
        ("crowd", 6),
        ("self", 5),
        ("imitation", 2),
        ("imitation", 4),
    ]
    for row in curves.rows:
        assert set(row.scores) == opponents and all(e.n == 2 for e in row.scores.values())
        assert set(row.triggers) == {FLAWED, TWIN}  # the flaw's detector, on both twins
        assert row.agreement["all"].n == 10 and row.agreement["heuristics"].n == 10
        gap = row.scores[FLAWED].value - row.scores[TWIN].value
        assert set(row.gaps) == {FLAWED} and row.gaps[FLAWED].value == pytest.approx(gap)
        assert row.pooled_gap is not None and row.pooled_gap.value == row.gaps[FLAWED].value
    assert curves.games_played == 5 * 4 * 2 and curves.games_reused == 0

    data = json.loads((out / "curves.json").read_text())
    assert len(data["rows"]) == 5 and data["rows"][1]["point"]["minutes"] == 1.5
    assert CurveSettings(**data["settings"]) == settings  # asked again as it was
    text = (out / "curves.md").read_text()
    assert f"{TWIN} (twin of {FLAWED})" in text and "gnugo:0 (held out)" in text
    assert (out / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert (out / EXPLOITATION_FIGURE).read_bytes().startswith(b"\x89PNG")
    gaps = text[text.index("Exploitation over training") :].splitlines()
    assert f"| agent | step | minutes | CPU s | pooled | {FLAWED} |" in gaps
    assert data["rows"][0]["gaps"][FLAWED]["value"] == data["rows"][0]["pooled_gap"]["value"]
    assert len(json.loads((out / CACHE_NAME).read_text())) == 5
    # The crowd agent's two points pair with the imitation agent's two; self-play's one
    # does not pair, and curves.md says so.
    crowd_gaps = [r.pooled_gap for r in curves.rows if r.point.label == "crowd"]
    imitation_gaps = [r.pooled_gap for r in curves.rows if r.point.label == "imitation"]
    assert [(c.control, c.order) for c in curves.contrasts] == [("imitation", 1), ("imitation", 2)]
    for c, a, b in zip(curves.contrasts, crowd_gaps, imitation_gaps, strict=True):
        assert (
            a is not None and b is not None and c.estimate.value == pytest.approx(a.value - b.value)
        )
    assert data["contrasts"][1]["control_step"] == 4
    assert (
        "Exploitation contrast over training" in text and "| 2 | 6 | 1.5 | imitation | 4 |" in text
    )
    assert "no exploitation contrast of crowd with self: 2 points against 1" in text

    # Interrupted or extended: only the missing games are played, nothing is searched again.
    again = curves_main(settings)
    assert again.games_played == 0 and again.games_reused == 40
    assert again.rows[0].agreement == curves.rows[0].agreement
    # A look while it runs: what is stored, nothing played or searched, the gap said.
    look = curves_main(CurveSettings(**{**settings.__dict__, "games": 3, "draw_only": True}))
    assert look.games_played == 0 and len(look.rows) == 5
    assert all(e.n == 2 for r in look.rows for e in r.scores.values())
    assert look.rows[0].agreement == curves.rows[0].agreement
    assert any("20 of 60 games not played yet, 0 of 5 points" in n for n in look.notes)
    assert "20 of 60 games not played yet" in (out / "curves.md").read_text()
    empty = tmp_path / "empty"
    with pytest.raises(CurveError, match="nothing to draw"):  # no store at all
        curves_main(dataclasses.replace(settings, out_dir=empty, draw_only=True))
    empty.mkdir()
    GameStore(empty / STORE_NAME).close()
    with pytest.raises(CurveError, match="nothing to draw"):  # a store, no game of these points
        curves_main(dataclasses.replace(settings, out_dir=empty, draw_only=True))
    more = curves_main(CurveSettings(**{**settings.__dict__, "games": 3, "every": 2}))
    assert [(r.point.label, r.point.step) for r in more.rows] == [
        ("crowd", 6),
        ("self", 5),
        ("imitation", 4),
    ]
    assert more.games_played == 3 * 4 and all(
        e.n == 3 for r in more.rows for e in r.scores.values()
    )
    with GameStore(out / STORE_NAME) as store:
        assert store.count_games(source="study") == 40 + 12
        pair = ("crowd-agent@6", FLAWED)
        assert store.count_between(*pair, "study") == len(store.games_between(*pair, "study")) == 3


def test_the_study_curves_command_writes_the_table_and_the_plot(
    tmp_path: Path, gnugo_path: str
) -> None:
    crowd, _ = _runs(tmp_path)
    out = tmp_path / "curves"
    common = ["study-curves", str(crowd.path), "--out", str(out), "--threads", "1"]
    result = runner.invoke(app, [*common, "--games", "1", "--every", "2", "--x", "steps"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "curves.json").read_text())
    assert [row["agent"] for row in data["rows"]] == ["crowd-agent@6"] and data["x"] == "steps"
    assert (out / "curves.png").is_file() and "| crowd | 6 |" in (out / "curves.md").read_text()
    bad = runner.invoke(app, [*common, "--x", "hours"])
    assert bad.exit_code == 2 and "--x must be one of minutes, steps, cpu" in bad.output
    nothing = runner.invoke(app, ["study-curves", "--out", str(out)])
    assert nothing.exit_code == 2 and "name at least one run" in nothing.output


def test_two_curves_processes_on_one_folder_keep_each_others_agreements(tmp_path: Path) -> None:
    from crowdzero.analysis.inference import Estimate
    from crowdzero.analysis.study.curves import _AgreementCache

    path = tmp_path / CACHE_NAME
    first, second = _AgreementCache(path), _AgreementCache(path)  # both opened, then both write
    found = {"all": Estimate(0.25, 0.05, 0.15, 0.35, 200, 40)}
    first.put("crowd@1", found)
    second.put("self@2", found)
    again = _AgreementCache(path)
    assert again.get("crowd@1") == found and again.get("self@2") == found
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_NAME]  # no partial file left

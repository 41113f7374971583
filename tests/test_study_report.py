"""The study's report, from hand-made results and from a tiny real study on 5x5."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from tiny_run import TINY_CROWD as CROWD
from tiny_run import TINY_RUN, stored_run
from typer.testing import CliRunner

from crowdzero.analysis.arena import play_match
from crowdzero.analysis.inference import Estimate as ClusteredEstimate
from crowdzero.analysis.study import stages
from crowdzero.analysis.study.cli_study import study_main
from crowdzero.analysis.study.imitation_agent import ImitationResult
from crowdzero.analysis.study.metrics import CalibrationBin, Estimate, no_data, wilson
from crowdzero.analysis.study.report import FIGURES, print_summary, write_report
from crowdzero.analysis.study.results import (
    AgentInfo,
    OutOfBox,
    PrimaryResults,
    StudyMeta,
    StudyResults,
    ValueCheck,
    results_from_json,
    results_json,
)
from crowdzero.analysis.study.settings import StudySettings
from crowdzero.analysis.study.stages import StudyError
from crowdzero.analysis.study.twin_report import TwinEvidence, twin_claims
from crowdzero.analysis.study.twins import PrimaryClaim
from crowdzero.cli import app
from crowdzero.go.position import Rules
from crowdzero.play.record import Game
from crowdzero.players.registry import make_player
from crowdzero.store.game_store import GameStore
from crowdzero.train.run_dir import RunDir

# -- hand-made results -----------------------------------------------------------------

HIGH = Estimate(0.8, 0.7, 0.9, 100, 20)
LOW = Estimate(0.2, 0.1, 0.3, 100, 20)


def _values() -> ValueCheck:
    curve = (
        CalibrationBin(0.0, 0.5, 10, 0.3, 0.2),
        CalibrationBin(0.5, 1.0, 0, float("nan"), float("nan")),
    )
    return ValueCheck(
        curve=curve,
        brier=Estimate(0.2, 0.15, 0.25, 40, 8),
        brier_by_opponent={"random": Estimate(0.2, 0.15, 0.25, 40, 8)},
        brier_by_bucket={"0-9": Estimate(0.2, 0.15, 0.25, 40, 8)},
        net_overrating_by_opponent={"random": Estimate(0.1, 0.05, 0.15, 40, 8)},
        search_curve=curve,
        search_brier=Estimate(0.2, 0.15, 0.25, 40, 8),
        search_overrating_by_opponent={"random": Estimate(0.1, 0.05, 0.15, 40, 8)},
    )


FLAWED, TWIN = "flawed:pass-back:gnugo:3", "gnugo:3"


def _primary() -> PrimaryResults:
    """Claims 1-5 as `twin_claims` and `_measure_primary` would leave them (not judged)."""
    rows = [
        {
            "flawed": FLAWED,
            "twin": TWIN,
            "agent": "crowd-agent@10",
            "control": control,
            "did": 0.3,
            "low": 0.1,
            "high": 0.5,
            "p": 0.003,
            "games": 100,
            "agent_trigger_rate": 0.4,
            "control_trigger_rate": 0.1,
        }
        for control in ("self-agent@10", "imitation-agent@10")
    ]
    claims = (
        PrimaryClaim("claim 1", "crowd exploits the flaws more than self", 0.3, 0.003, 100),
        PrimaryClaim("claim 2", "crowd exploits the flaws more than imitation", 0.3, 0.003, 100),
        PrimaryClaim("claim 3", "crowd makes the pass-back exploit more often", 0.2, 0.2, 100),
        PrimaryClaim("claim 4", "crowd scores better, stratified", 0.1, 0.04, 100),
        PrimaryClaim("claim 5", "crowd's value head is less consistent", 0.05, 0.5, 100),
    )
    evidence = TwinEvidence(
        agents={label: f"{label}-agent@10" for label in ("crowd", "self", "imitation")},
        exploitation=rows,
        early_passes={"crowd": (30, 100), "self": (10, 100), "imitation": (12, 100)},
        members_early_passes={FLAWED: (0, 80), "random": (0, 80)},
        claims=list(claims[:4]),
    )
    gap = ClusteredEstimate(0.1, 0.01, 0.08, 0.12, 500, 100)
    return PrimaryResults(
        twins=evidence,
        value_consistency={"crowd": gap, "self": gap},
        brier_by_opponent={"crowd": {"random": Estimate(0.2, 0.15, 0.25, 40, 8)}},
        claims=claims,
    )


def _results() -> StudyResults:
    agents = {
        label: AgentInfo(
            label,
            f"{label}-agent@10",
            f"/x/{label}.pt",
            10,
            f"runs/{label}",
            16,
            "gumbel",
            "6x64 on 9x9",
        )
        for label in ("crowd", "self", "imitation")
    }
    box = OutOfBox(
        wilson(5, 50), wilson(1, 50), wilson(3, 4), no_data(), ("heuristic:greedy",), 0.01, 4
    )
    top1 = {
        "crowd": {"all": LOW, "random": LOW},
        "self": {"all": LOW},
        "imitation": {"all": HIGH, "random": HIGH},
    }
    exploitation = {
        "crowd": {"all": HIGH, "random": HIGH, FLAWED: HIGH},
        "self": {"all": LOW, "random": LOW, FLAWED: LOW},
        "imitation": {"all": LOW, "random": LOW, FLAWED: LOW},
    }
    measured = StudyResults(
        meta=StudyMeta(
            "2025-01-01T00:00:00",
            None,
            "crowdzero study",
            {"games": 20},
            {"total": 1.0},
            9,
            60,
            0,
            0,
            ("a note",),
        ),
        agents=agents,
        imitation_training=ImitationResult(
            "/x/imitation.pt", 10, 5.0, 10, None, 10, 60.0, 100, 8, 256, False
        ),
        members=("random", FLAWED),
        held_out=("gnugo:1", TWIN),
        imitation_top1=top1,
        imitation_search_top1={},
        imitation_log_likelihood={"crowd": {"random": Estimate(-3.2, -3.4, -3.0, 50, 10)}},
        exploitation=exploitation,
        transfer={
            "crowd": {"gnugo:1": no_data(), TWIN: LOW},
            "self": {TWIN: LOW},
            "imitation": {TWIN: LOW},
        },
        out_of_box={"crowd": box},
        flaws={
            "crowd": {"heuristic:greedy": wilson(2, 5)},
            "self": {"heuristic:greedy": wilson(0, 5)},
        },
        values={"crowd": _values()},
        primary=_primary(),
    )
    return stages.compare(measured)


def test_claims_follow_the_intervals() -> None:
    claims = {c.text: c.verdict for c in _results().claims}
    pooled = "the crowd (all members pooled)"
    assert (
        claims[f"the crowd agent copies {pooled} less often than the imitation agent (top-1)"]
        == "supported"
    )
    assert (
        claims[f"the crowd agent scores better against {pooled} than the self agent"] == "supported"
    )
    assert (
        claims["the crowd agent beats the self agent head to head (score above 50%)"] == "no data"
    )
    overrates = [c for c in claims if "overrates" in c]
    assert overrates and claims[overrates[0]] == "supported"


def test_report_writes_a_self_contained_page_strict_json_and_every_figure(tmp_path: Path) -> None:
    results = _results()
    page = write_report(results, tmp_path)
    for name in FIGURES:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    text = page.read_text()
    assert "<script" not in text and not re.search(r'src="https?:', text)  # no CDN
    assert text.count('src="data:image/png;base64,') == len(FIGURES)
    # The report opens with the primary claims and the headline figure; the full claims
    # table comes after.
    primary, headline = text.index("<h2>Primary claims</h2>"), text.index('alt="exploitation')
    assert primary < headline < text.index("<h2>Claims</h2>")
    assert re.search(r"claim 1: crowd exploits .*?<b>supported</b>", text)
    pooled = "the crowd (all members pooled)"
    claim = f"the crowd agent copies {pooled} less often than the imitation agent (top-1)"
    assert re.search(re.escape(claim) + r"</td><td[^>]*><b>supported</b>", text)
    assert "a note" in text
    data = json.loads((tmp_path / "results.json").read_text())  # strict: NaN would fail
    assert data["transfer"]["crowd"]["gnugo:1"]["value"] is None  # no data, not a number
    assert data["imitation_top1"]["crowd"]["all"] == {
        "value": 0.2,
        "low": 0.1,
        "high": 0.3,
        "n": 100,
        "games": 20,
    }
    assert {c["verdict"] for c in data["claims"]} <= {
        "supported",
        "contradicted",
        "not supported",
        "no data",
    }


def test_results_json_reads_back_and_redraws_the_report_alone(tmp_path: Path) -> None:
    results = _results()
    text = results_json(results)
    assert results_json(results_from_json(text)) == text  # NaN comes back as NaN
    write_report(results, tmp_path)
    for name in [*FIGURES, "index.html"]:
        (tmp_path / name).unlink()
    outcome = CliRunner().invoke(app, ["study-report", str(tmp_path)])
    assert outcome.exit_code == 0, outcome.output
    assert all((tmp_path / name).read_bytes().startswith(b"\x89PNG") for name in FIGURES)
    assert "<h2>Primary claims</h2>" in (tmp_path / "index.html").read_text()
    assert (tmp_path / "results.json").read_text() == text

    # Curves drawn later into OUT/curves join the page when it is redrawn.
    curves = tmp_path / "curves"
    curves.mkdir()
    for name in ("curves.png", "exploitation.png"):
        shutil.copyfile(tmp_path / "headline.png", curves / name)
    assert CliRunner().invoke(app, ["study-report", str(tmp_path)]).exit_code == 0
    page = (tmp_path / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(FIGURES) + 2
    assert page.index("<h2>Primary claims</h2>") < page.index("<h2>Curves over training</h2>")
    assert 'href="curves/curves.md"' in page


def test_terminal_summary_names_every_agent() -> None:
    console = Console(record=True, width=120)
    print_summary(_results(), console)
    text = console.export_text()
    assert "crowd" in text and "imitation" in text and "supported" in text


# -- a tiny real study -----------------------------------------------------------------

TINY = {
    **TINY_RUN,
}


def _run(root: Path, mode: str, games: int) -> RunDir:
    """A run directory as training leaves it: config, a checkpoint, games in the store."""
    crowd_file = root / "crowd.toml"
    crowd_file.write_text(CROWD)
    members = [make_player(s) for s in ("random:1", "heuristic:greedy:2", "heuristic:local:3")]
    overrides = {**TINY, "train.mode": mode, "train.crowd": str(crowd_file)}
    return stored_run(root / mode, overrides, members, games, step=6)


def _member_games(path: Path) -> Path:
    """A store of games between two crowd members (no agent in them), as
    `scripts/record_twin_games.py` records them."""
    a, b = make_player("random:7"), make_player("heuristic:greedy:8")
    result = play_match(a, b, 4, RunDir.open(path.parent / "crowd").config.rules)
    with GameStore(path) as store:
        for game in result.games:
            store.add_game(game, source="arena")
    return path


def test_tiny_study_end_to_end_writes_the_report_and_reuses_its_work(tmp_path: Path) -> None:
    crowd, self_ = _run(tmp_path, "crowd", 12), _run(tmp_path, "self", 2)
    member_games = _member_games(tmp_path / "members.sqlite")
    out = tmp_path / "study"
    console = Console(record=True, width=120)
    settings = StudySettings(
        crowd.path,
        self_.path,
        out,
        games=2,
        imitation_steps=10,
        positions=30,
        holdout_every=2,
        threads=1,
        concurrency=8,
        box_games=4,
        search_choice=True,
        member_games=member_games,
        agreement_positions=12,
    )
    results = study_main(settings, console)
    assert (out / "index.html").is_file() and (out / "results.json").is_file()
    data = json.loads((out / "results.json").read_text())
    assert set(data["agents"]) == {"crowd", "self", "imitation"}
    assert (
        data["imitation_training"]["steps"] == 10 and data["imitation_training"]["crowd_steps"] == 6
    )
    members = {"random", "heuristic:greedy", "heuristic:local"}
    assert set(results.members) == members and results.held_out == ("heuristic:plain",)
    # 3 agents x (3 members + 1 held out) + 3 head-to-head pairings, 2 games each.
    assert results.meta.games_played == 2 * (3 * 4 + 3)
    with GameStore(out / "games.sqlite") as store:
        assert store.count_games(source="study") == 30
    for label in ("crowd", "self", "imitation"):
        assert set(results.exploitation[label]) == members | {"all"}
        assert all(e.n == 2 for k, e in results.exploitation[label].items() if k != "all")
        assert results.exploitation[label]["all"].n == 6
        assert "heuristic:plain" in results.transfer[label]
        assert set(results.flaws[label]) == {"heuristic:greedy", "heuristic:local"}
        assert results.imitation_top1[label]["all"].n > 0
        assert (
            results.imitation_search_top1[label]["all"].n == results.imitation_top1[label]["all"].n
        )
        assert results.values[label].brier.n > 0
        assert results.values[label].search_brier.n > 0  # root values were recorded
        # The search's top-1 agreement on the member-vs-member positions.
        agreement = results.member_agreement[label]
        assert agreement["all"].n == 12 and agreement["heuristics"].n == 12
        assert set(agreement) == {"all", "heuristics", "random", "heuristic:greedy"}
        consistency = results.values[label].consistency
        assert consistency is not None and consistency.n > 0 and 0 <= consistency.value <= 1
    # The five primary claims, judged together; claim 5 compares the value heads.
    primary = results.primary
    assert primary is not None and len(primary.decisions) == 5
    claim5 = primary.decisions[4].claim
    assert claim5.name == "claim 5" and claim5.value == pytest.approx(
        primary.value_consistency["crowd"].value - primary.value_consistency["self"].value
    )
    assert set(primary.brier_by_opponent["crowd"]) >= members
    assert data["primary"]["decisions"][4]["verdict"] == "too few games"  # 2 games a pairing
    assert data["member_agreement"]["crowd"]["all"]["n"] == 12
    assert "Primary claims" in (out / "index.html").read_text()
    assert "primary claims (Holm over the five)" in console.export_text()
    assert results.claims
    text = results_json(results)
    assert results_json(results_from_json(text)) == text
    # Run again: nothing is trained or played twice.
    again = study_main(settings, console)
    assert again.meta.games_played == 0 and again.meta.games_reused == 30
    assert again.imitation_training is not None and again.imitation_training.reused


def test_each_stage_runs_on_its_own_from_the_settings_and_the_stage_before(
    tmp_path: Path,
) -> None:
    crowd = _run(tmp_path, "crowd", 8)
    settings = StudySettings(
        crowd.path,
        out_dir=tmp_path / "study",
        games=1,
        imitation_steps=3,
        positions=6,
        holdout_every=2,
        threads=1,
        box_games=1,
        head_to_head=False,
        held_out=(),
    )
    console = Console(record=True, width=120)

    runs = stages.open_runs(settings)
    assert runs.self_play is None and runs.crowd_checkpoint.name == "ckpt-00000006.pt"
    assert not settings.out_dir.exists()  # opening the runs writes nothing

    baselines = stages.train_baselines(settings, runs, console)
    assert baselines.imitation.steps == 3 and not baselines.member_models
    assert set(baselines.wall) == {"imitation_training"}

    with stages.field_agents(settings, runs, baselines) as lineup:
        assert list(lineup.agents) == ["crowd", "imitation"]
        evidence = stages.collect(settings, lineup, console)
        # Each agent meets each of the 3 members once; no held-out opponent, no rival.
        assert evidence.played == 2 * 3 and evidence.held_out == ()
        assert {label: sorted(table) for label, table in evidence.games.items()} == {
            label: sorted(evidence.members) for label in ("crowd", "imitation")
        }
        assert all(len(games) == 1 for t in evidence.games.values() for games in t.values())
        measured = stages.measure(settings, lineup, evidence, console)

    assert measured.claims == () and set(measured.exploitation) == {"crowd", "imitation"}
    assert list(measured.meta.wall_seconds) == [
        "imitation_training",
        "games",
        "imitation_measure",
        "measurements",
        "total",
    ]
    judged = stages.compare(measured)
    assert measured.primary is not None and measured.primary.decisions == ()
    assert judged.primary is not None and len(judged.primary.decisions) == 5
    assert judged.claims and replace(judged, claims=(), primary=measured.primary) == measured
    page = stages.report(settings, judged, console)
    assert page == settings.out_dir / "index.html" and page.is_file()
    data = json.loads((settings.out_dir / "results.json").read_text())
    assert data["meta"]["settings"]["games"] == 1 and len(data["claims"]) == len(judged.claims)


def test_results_record_every_setting_as_json_holds_it() -> None:
    settings = StudySettings("runs/crowd", "runs/self", "out", held_out=["gnugo:1"])
    assert settings.crowd_run == Path("runs/crowd") and settings.held_out == ("gnugo:1",)
    record = settings.record("crowd.toml", {"heuristic:greedy": Path("m/ckpt.pt")})
    assert list(record) == [
        "crowd_run",
        "self_run",
        "out_dir",
        "games",
        "minutes_imitation",
        "imitation_steps",
        "positions",
        "search_choice",
        "threshold",
        "box_games",
        "crowd",
        "held_out",
        "head_to_head",
        "holdout_every",
        "threads",
        "concurrency",
        "seed",
        "imitation_snapshot_every",
        "opponent_modelling",
        "opponent_model_steps",
        "minutes_opponent_models",
        "katago_reference",
        "blunder_points",
        "blunder_winrate",
        "member_games",
        "agreement_positions",
        "opponent_models",
    ]
    assert record["crowd_run"] == "runs/crowd" and record["held_out"] == ["gnugo:1"]
    assert record["crowd"] == "crowd.toml"
    assert record["opponent_models"] == {"heuristic:greedy": "m/ckpt.pt"}
    json.dumps(record)  # plain JSON values only


def test_study_refuses_a_self_play_run_as_the_crowd_run(tmp_path: Path) -> None:
    self_ = _run(tmp_path, "self", 1)
    settings = StudySettings(self_.path, out_dir=tmp_path / "study", threads=1)
    with pytest.raises(StudyError, match="self-mode run, not a crowd-mode one"):
        study_main(settings)
    assert not settings.out_dir.exists()


def _evidence(member: str, games: dict[str, dict[str, tuple[Game, ...]]]) -> stages.Evidence:
    """What `collect` would hand `measure` for these games against one member."""
    played = sum(len(g) for table in games.values() for g in table.values())
    return stages.Evidence(
        members=(member,),
        held_out=(),
        member_specs=("random:3",),
        games=games,
        played=played,
        reused=0,
        dropped=0,
        notes=(),
        wall={},
    )


def test_primary_claims_find_members_by_the_name_their_games_carry() -> None:
    """A member given with a seed ("random:3") plays as "random": claim 4 must still
    find its games, and claim 5 waits for both value heads."""
    member = make_player("random:3")
    games: dict[str, dict[str, tuple[Game, ...]]] = {}
    for label, seed in (("crowd", 1), ("self", 2)):
        agent = make_player(f"random-noeye:{seed}")
        agent.name = f"{label}-agent@4"
        result = play_match(agent, member, 4, Rules(size=5, komi=0.5))
        games[label] = {member.name: result.games}
    evidence = _evidence(member.name, games)
    primary = stages._measure_primary(evidence, {}, None)
    claim4 = primary.claims[3]
    assert claim4.name == "claim 4" and claim4.games == 4, claim4
    assert primary.claims[4].text == "no value measurements"
    assert not primary.decisions  # judged by `compare`, not here


def test_primary_claims_count_each_stored_game_once() -> None:
    """A head-to-head pairing sits in both agents' tables (counted once), and two games
    with the same moves are two games (counted twice), as `twin_report` counts them."""
    member = make_player("random:3")
    games: dict[str, dict[str, tuple[Game, ...]]] = {}
    agents = {}
    for label, seed in (("crowd", 1), ("self", 2)):
        agents[label] = make_player(f"random-noeye:{seed}")
        agents[label].name = f"{label}-agent@4"
        result = play_match(agents[label], member, 4, Rules(size=5, komi=0.5))
        games[label] = {member.name: (*result.games, result.games[0])}  # a repeated game
    rivals = play_match(agents["crowd"], agents["self"], 2, Rules(size=5, komi=0.5)).games
    games["crowd"]["self-agent@4"] = rivals
    games["self"]["crowd-agent@4"] = tuple(replace(g) for g in rivals)  # read again
    evidence = _evidence(member.name, games)
    primary = stages._measure_primary(evidence, {}, None)
    assert primary.claims[3].games == 5  # 4 games and the repeat, each agent
    every = [g for table in games.values() for played in table.values() for g in played]
    twins = twin_claims([*every[:5], *every[5:7], *every[7:12]], [member.name], [])
    assert twins.claims[3].games == primary.claims[3].games

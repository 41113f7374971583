"""scripts/reproduce_study.py: a tiny real study (5x5, a flawed member and its held-out
twin), its twin report and its curves are shipped, then recomputed from the shipped files
alone: every number agrees, a changed number is found, a missing game is refused."""

from __future__ import annotations

import json
import lzma
import sqlite3
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from tiny_run import TINY_RUN, stored_run

from crowdzero.analysis.arena import play_match
from crowdzero.analysis.study import twin_report
from crowdzero.analysis.study.cli_study import study_main
from crowdzero.analysis.study.curves import CurveSettings, curves_main
from crowdzero.analysis.study.settings import StudySettings
from crowdzero.players.registry import make_player
from crowdzero.store.game_store import GameStore

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from reproduce_study import differences  # noqa: E402

FLAWED = "flawed:ladder-runner:heuristic:plain"
CROWD = f"""
[study]
held_out = ["heuristic:plain"]

[[member]]
spec = "random"

[[member]]
spec = "{FLAWED}"
"""


def script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/reproduce_study.py", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_differences_skip_bookkeeping_and_allow_the_tolerance() -> None:
    a = {"meta": {"created": 1}, "x": [1.0, {"n": 3, "p": 0.5}], "games_played": 4, "t": "a"}
    b = {
        "meta": {"created": 2},
        "x": [1.0 + 1e-12, {"n": 3, "p": 0.6}],
        "games_played": 0,
        "t": "a",
    }
    assert list(differences(a, b)) == [(".x[1].p", 0.5, 0.6)]
    assert list(differences({"x": [1, 2]}, {"x": [1]})) == [(".x", "2 items", "1 items")]
    assert list(differences({"x": True}, {"x": 1})) == [(".x", True, 1)]  # not a number
    assert list(differences({"x": None}, {"y": 1})) == [
        (".x", None, "<absent>"),
        (".y", "<absent>", 1),
    ]


def test_a_shipped_study_is_recomputed_from_its_files_alone(tmp_path: Path) -> None:
    crowd_file = tmp_path / "crowd.toml"
    crowd_file.write_text(CROWD)
    members = [make_player("random:1"), make_player(FLAWED)]
    runs = {
        mode: stored_run(
            tmp_path / "runs" / mode,
            {**TINY_RUN, "train.mode": mode, "train.crowd": str(crowd_file)},
            members,
            games,
            step=6,
        )
        for mode, games in (("crowd", 10), ("self", 1))
    }
    member_games = tmp_path / "members.sqlite"
    result = play_match(make_player("random:5"), make_player(FLAWED), 3, runs["crowd"].config.rules)
    with GameStore(member_games) as store:
        for game in result.games:
            store.add_game(game, source="arena")
    study = tmp_path / "study"
    settings = StudySettings(
        runs["crowd"].path,
        runs["self"].path,
        study,
        games=2,
        imitation_steps=4,
        positions=20,
        holdout_every=2,
        threads=1,
        concurrency=8,
        box_games=2,
        member_games=member_games,
        agreement_positions=8,
        imitation_snapshot_every=2,
        katago_reference=False,
    )
    study_main(settings, Console(quiet=True))
    twin_report.main(
        [
            str(study / "games.sqlite"),
            "--crowd",
            str(crowd_file),
            "--json",
            str(study / "twins.json"),
            "--members",
            str(member_games),
            "--training",
            str(runs["crowd"].path / "games.sqlite"),
        ]
    )
    stretches = json.loads((study / "twins.json").read_text())["training_exploit"]
    assert sum(row["games"] for row in stretches) == 10  # the crowd run's games
    curves_main(
        CurveSettings(
            (runs["crowd"].path, runs["self"].path),
            imitation=study / "imitation",
            out_dir=study / "curves",
            games=1,
            member_games=member_games,
            positions=6,
            threads=1,
            concurrency=8,
        )
    )
    self_pack = tmp_path / "self-pack"
    assert (
        script("ship", str(study), str(tmp_path / "x"), "--twin-crowd", str(crowd_file)).returncode
        == 2
    )
    subprocess.run(
        [sys.executable, "scripts/pack_run.py", "pack", str(runs["self"].path), str(self_pack)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    shipped = tmp_path / "shipped"
    done = script(
        "ship",
        str(study),
        str(shipped),
        "--self-pack",
        str(self_pack),
        "--twin-crowd",
        str(crowd_file),
    )
    assert done.returncode == 0, done.stderr
    names = {p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file()}
    assert {
        "results.json",
        "index.html",
        "twins.json",
        "games.sqlite.xz",
        "reproduce.json",
    } <= names
    assert {"curves/curves.json", "curves/curves.png", "curves/curves.sqlite.xz"} <= names
    # The curves' games ship without the search distributions no curve reads (the check
    # below recomputes every curve number from them); the study's own games keep theirs.
    for store, policies in (("curves/curves.sqlite.xz", False), ("games.sqlite.xz", True)):
        unpacked = tmp_path / store.replace("/", "-").removesuffix(".xz")
        unpacked.write_bytes(lzma.decompress((shipped / store).read_bytes()))
        with sqlite3.connect(unpacked) as db:
            moves, kept = db.execute("SELECT COUNT(*), COUNT(policy) FROM moves").fetchone()
        assert moves > 0 and (kept > 0) == policies
    assert "crowd-run/resume/games.sqlite.xz" in names and "members.sqlite" in names
    # The final imitation agent and the one snapshot the curves drew besides it.
    assert sorted(n for n in names if n.startswith("imitation/")) == [
        "imitation/ckpt-00000004.pt",
        "imitation/snapshots/ckpt-00000002.pt",
    ]

    checked = script("check", str(shipped), "--work", str(tmp_path / "work"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "every number recomputed" in checked.stdout

    # A number changed by hand is found.
    results = json.loads((shipped / "results.json").read_text())
    score = results["exploitation"]["crowd"]["random"]
    score["value"] = 1.5 - score["value"] if score["value"] != 0.75 else 0.1
    (shipped / "results.json").write_text(json.dumps(results))
    changed = script("check", str(shipped), "--work", str(tmp_path / "work2"))
    assert changed.returncode == 1
    assert "results.json.exploitation.crowd.random.value" in changed.stdout
    assert "1 numbers differ" in changed.stdout

    # The curves alone: the changed results.json is not read, a changed curve number is.
    only = script(
        "check", str(shipped), "--work", str(tmp_path / "only-curves"), "--only", "curves"
    )
    assert only.returncode == 0, only.stdout + only.stderr
    assert "every number of curves (not checked: study, twins) recomputed" in only.stdout
    curves = json.loads((shipped / "curves" / "curves.json").read_text())
    curves["rows"][0]["scores"]["random"]["value"] += 0.5
    (shipped / "curves" / "curves.json").write_text(json.dumps(curves))
    only = script(
        "check", str(shipped), "--work", str(tmp_path / "only-curves-changed"), "--only", "curves"
    )
    assert only.returncode == 1 and "1 numbers differ of curves" in only.stdout
    assert "curves/curves.json.rows" in only.stdout

    # A store with a game missing is not a check: it would play the game again.
    store = tmp_path / "games.sqlite"
    store.write_bytes(lzma.decompress((shipped / "games.sqlite.xz").read_bytes()))
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("DELETE FROM games WHERE id = (SELECT MAX(id) FROM games)")
    (shipped / "games.sqlite.xz").write_bytes(lzma.compress(store.read_bytes()))
    missing = script("check", str(shipped), "--work", str(tmp_path / "work3"))
    assert missing.returncode == 2 and "lacked 1 games" in missing.stderr

"""`benchmarks.learn compare`: the before/after table and plot come from the committed
results folders alone, with the newest evaluation of a mark replacing older ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crowdzero.train.config import RunConfig, dump_config

ROOT = Path(__file__).resolve().parents[1]


def row(minutes: float, opponent: str, score: float, games: int = 200) -> dict:
    return {
        "checkpoint": f"mark-{minutes:g}min.pt",
        "step": int(minutes * 30),
        "opponent": opponent,
        "games": games,
        "score": score,
        "low": max(0.0, score - 0.07),
        "high": min(1.0, score + 0.07),
        "seconds": 1.0,
        "minutes": minutes,
    }


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.learn", "compare", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_compare_puts_runs_side_by_side_from_run_and_results_folders(tmp_path: Path) -> None:
    crowd, self_play, out = tmp_path / "crowd-x", tmp_path / "self-x", tmp_path / "out"
    # A packed results folder keeps its rows in resume/; a run folder at its top.
    write_rows(
        crowd / "resume" / "learn_results.jsonl",
        [row(30, "gnugo:0", 0.05), row(240, "gnugo:0", 0.40), row(240, "gnugo:0", 0.63)],
    )
    # Rows written before the one Wilson interval hold a low end of 1.7e-18 at a score of 0.
    old = {**row(30, "gnugo:0", 0.0), "low": 1.734723475976807e-18}
    write_rows(
        self_play / "learn_results.jsonl",
        [old, row(240, "gnugo:0", 0.21), row(240, "gnugo:10", 0.02, games=100)],
    )
    result = compare(str(crowd), str(self_play), "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = (out / "comparison.md").read_text()
    assert "| opponent | training minutes | crowd-x | self-x |" in text
    # The newest row of a mark counts (63%, not the 40% evaluated before it).
    assert "| gnugo:0 | 240 | 63.0% [56.0%, 70.0%] (200) | 21.0% [14.0%, 28.0%] (200) |" in text
    assert "| gnugo:0 | 30 | 5.0% [0.0%, 12.0%] (200) | 0.0% [0.0%, 7.0%] (200) |" in text
    assert "| gnugo:10 | 240 | - | 2.0% [0.0%, 9.0%] (100) |" in text
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_refuses_a_folder_without_evaluations(tmp_path: Path) -> None:
    write_rows(tmp_path / "a" / "learn_results.jsonl", [row(30, "gnugo:0", 0.5)])
    (tmp_path / "b").mkdir()
    result = compare(str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "holds no learn_results.jsonl" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_compare_rates_every_mark_on_one_elo_scale_when_the_board_is_known(
    tmp_path: Path,
) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    write_rows(a / "learn_results.jsonl", [row(30, "gnugo:0", 0.1), row(60, "gnugo:0", 0.5)])
    write_rows(
        b / "resume" / "learn_results.jsonl",
        [row(30, "gnugo:0", 0.5), row(30, "gnugo:10", 0.5, games=100), row(60, "gnugo:10", 0.9)],
    )
    assert compare(str(a), str(b), "--out", str(out)).returncode == 0
    assert "Elo by mark" not in (out / "comparison.md").read_text()  # no board size known
    for config in (a / "config.toml", b / "resume" / "config.toml"):
        config.write_text(dump_config(RunConfig()))  # 9x9: the shipped calibration table
    result = compare(str(a), str(b), "--out", str(out))
    assert result.returncode == 0, result.stderr
    elo = {}
    for line in (out / "comparison.md").read_text().split("## Elo by mark")[1].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            elo[int(cells[0])] = [float(c.split()[0]) for c in cells[1:]]
    # b's mark 30 scored 50% against GnuGo 0 (weaker than GnuGo 10 in the calibration
    # games) and 50% against GnuGo 10 (1800): it lands between the two. a's mark 60
    # scored 50% against GnuGo 0 only: below b's 30. Winning more rates higher.
    assert 1650 < elo[30][1] < 1800
    assert elo[30][0] < elo[60][0] < elo[30][1] < elo[60][1]

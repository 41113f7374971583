"""scripts/record_twin_games.py: a recording stopped between matches resumes with only what
is missing, and a file it cannot resume from is refused with a reason."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from crowdzero.play.sgf import sgf_to_game

ROOT = Path(__file__).resolve().parents[1]


def record(
    out: Path, games: int, members: str = "random,random-noeye,heuristic:greedy"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "scripts/record_twin_games.py",
            "--size",
            "5",
            "--games",
            str(games),
            "--exploit-games",
            "0",
            "--members",
            members,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def rows(out: Path) -> list[dict[str, str]]:
    with gzip.open(out, "rt") as handle:
        return [json.loads(line) for line in handle]


def test_a_resumed_recording_plays_only_the_missing_games(tmp_path: Path) -> None:
    out = tmp_path / "games.jsonl.gz"
    first = record(out, 1)
    assert first.returncode == 0, first.stderr
    assert Counter(r["match"] for r in rows(out)) == {
        "members random vs random-noeye": 1,
        "members random vs heuristic:greedy": 1,
        "members random-noeye vs heuristic:greedy": 1,
    }
    before = rows(out)
    again = record(out, 3)
    assert again.returncode == 0, again.stderr
    after = rows(out)
    assert after[: len(before)] == before  # appended, nothing replayed or lost
    assert Counter(r["match"] for r in after) == {
        "members random vs random-noeye": 3,
        "members random vs heuristic:greedy": 3,
        "members random-noeye vs heuristic:greedy": 3,
    }
    # Colours kept alternating across the stop: each player had black in 2 or 1 of 3.
    games = [sgf_to_game(r["sgf"].encode()) for r in after]
    blacks = Counter(g.black for g in games if {g.black, g.white} == {"random", "random-noeye"})
    assert sorted(blacks.values()) == [1, 2]
    done = record(out, 3)
    assert done.returncode == 0 and "already in" in done.stdout
    assert rows(out) == after


def test_a_file_it_cannot_resume_from_is_refused_and_kept(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl.gz"
    with gzip.open(old, "wt") as handle:
        handle.write(json.dumps({"set": "members", "sgf": "(;GM[1]SZ[5])"}) + "\n")
    refused = record(old, 1)
    assert refused.returncode != 0 and "move it aside" in refused.stderr
    cut = tmp_path / "cut.jsonl.gz"
    assert record(cut, 1, members="random,random-noeye").returncode == 0
    whole = cut.read_bytes()
    cut.write_bytes(whole[: len(whole) - 5])
    refused = record(cut, 2, members="random,random-noeye")
    assert refused.returncode != 0 and "cut short" in refused.stderr
    assert cut.read_bytes() == whole[: len(whole) - 5]

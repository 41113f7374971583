"""GtpClient against real GnuGo and against small misbehaving engines.

The misbehaving engines are real subprocesses (a Python script below, run with this
interpreter): one hangs on genmove, one dies with a message on stderr, one prints
garbage, one answers with the wrong id, one uses CRLF and multi-line replies, one
ignores quit and SIGTERM.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from crowdzero.go.gtp_client import (
    GtpClient,
    GtpEngineDied,
    GtpError,
    GtpProtocolError,
    GtpTimeout,
)

FAKE_ENGINE = textwrap.dedent(
    """
    import os, signal, sys, time

    mode = sys.argv[1]
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    newline = "\\r\\n" if mode == "crlf" else "\\n"

    def reply(cid, body, ok=True):
        sys.stdout.write(("=" if ok else "?") + cid + " " + body + newline + newline)
        sys.stdout.flush()

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cid = words.pop(0) if words[0].isdigit() else ""
        command = words[0]
        if command == "quit":
            reply(cid, "")
            if mode == "stubborn":
                continue
            break
        if command == "genmove":
            if mode == "hang":
                time.sleep(3600)
            if mode == "die":
                sys.stderr.write("fatal: out of memory in genmove\\n")
                sys.stderr.flush()
                os._exit(3)
            if mode == "garbage":
                sys.stdout.write("I think D4 is nice\\n")
                sys.stdout.flush()
                continue
            if mode == "wrong-id":
                reply("999", "D4")
                continue
            reply(cid, "D4")
        elif command == "showboard":
            reply(cid, newline + "line one" + newline + "line two")
        elif command == "refuse":
            reply(cid, "I refuse", ok=False)
        elif command == "echo":
            reply(cid, " ".join(words[1:]))
        else:
            reply(cid, "")
    """
)


@pytest.fixture(scope="module")
def fake_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engines") / "fake_engine.py"
    path.write_text(FAKE_ENGINE)
    return path


def fake(path: Path, mode: str, timeout: float = 10.0, grace: float = 2.0) -> GtpClient:
    return GtpClient([sys.executable, str(path), mode], timeout=timeout, grace=grace)


# ------------------------------------------------------------------ real gnugo


def test_gnugo_answers_gtp_commands(gnugo_path: str) -> None:
    with GtpClient([gnugo_path, "--mode", "gtp", "--level", "0"], timeout=30) as gnugo:
        assert gnugo.send("protocol_version") == "2"
        assert gnugo.send("name") == "GNU Go"
        gnugo.send("boardsize 9")
        gnugo.send("clear_board")
        gnugo.send("play b e5")
        move = gnugo.send("genmove w")
        assert move.upper() in {f"{c}{r}" for c in "ABCDEFGHJ" for r in range(1, 10)}
        board = gnugo.send("showboard")
        assert board.count("\n") >= 10 and "X" in board


def test_refused_command_raises_gtp_error_and_engine_stays_usable(gnugo_path: str) -> None:
    with GtpClient([gnugo_path, "--mode", "gtp"]) as gnugo:
        gnugo.send("boardsize 9")
        gnugo.send("play b e5")
        with pytest.raises(GtpError, match="illegal move") as info:
            gnugo.send("play w e5")
        assert info.value.command == "play w e5"
        with pytest.raises(GtpError, match="unknown command"):
            gnugo.send("no_such_command")
        assert gnugo.alive
        assert gnugo.send("list_stones black") == "E5"


def test_send_many_returns_replies_in_order(gnugo_path: str) -> None:
    with GtpClient([gnugo_path, "--mode", "gtp"]) as gnugo:
        replies = gnugo.send_many(
            ["boardsize 5", "clear_board", "play b a1", "play w b1", "list_stones white", "name"]
        )
        assert replies == ["", "", "", "", "B1", "GNU Go"]


def test_send_many_reads_every_reply_before_raising(gnugo_path: str) -> None:
    with GtpClient([gnugo_path, "--mode", "gtp"]) as gnugo:
        with pytest.raises(GtpError):
            gnugo.send_many(["boardsize 5", "play b z9", "play b a1"])
        assert gnugo.send("list_stones black") == "A1"  # still in step


def test_close_ends_gnugo(gnugo_path: str) -> None:
    gnugo = GtpClient([gnugo_path, "--mode", "gtp"])
    process = gnugo._process
    assert process is not None
    gnugo.close()
    assert process.poll() == 0
    gnugo.close()  # idempotent
    with pytest.raises(GtpEngineDied, match="closed"):
        gnugo.send("name")


# ------------------------------------------------------------------ misbehaving engines


def test_hung_engine_raises_timeout_and_is_stopped(fake_engine: Path) -> None:
    client = fake(fake_engine, "hang", timeout=0.5, grace=0.5)
    process = client._process
    assert process is not None
    assert client.send("boardsize 9") == ""
    started = time.monotonic()
    with pytest.raises(GtpTimeout, match="genmove b"):
        client.send("genmove b")
    assert time.monotonic() - started < 10  # bounded, not forever
    assert process.poll() is not None
    assert not client.alive
    with pytest.raises(GtpEngineDied, match="restart"):
        client.send("name")
    client.close()


def test_dying_engine_reports_exit_code_and_stderr(fake_engine: Path) -> None:
    with fake(fake_engine, "die", timeout=10) as client:
        client.send("play b d4")
        with pytest.raises(GtpEngineDied) as info:
            client.send("genmove w")
        assert info.value.returncode == 3
        assert "out of memory" in info.value.stderr_tail
        assert "out of memory" in str(info.value)
        with pytest.raises(GtpEngineDied):
            client.send("name")


def test_restart_gives_a_working_engine_after_death(fake_engine: Path) -> None:
    with fake(fake_engine, "die", timeout=10) as client:
        with pytest.raises(GtpEngineDied):
            client.send("genmove b")
        client.restart()
        assert client.alive
        assert client.send("echo hello") == "hello"


def test_garbage_reply_raises_protocol_error(fake_engine: Path) -> None:
    with fake(fake_engine, "garbage", timeout=5, grace=0.5) as client:
        assert client.send("echo fine") == "fine"
        with pytest.raises(GtpProtocolError, match="I think D4"):
            client.send("genmove b")
        assert not client.alive


def test_reply_with_wrong_id_raises_protocol_error(fake_engine: Path) -> None:
    with (
        fake(fake_engine, "wrong-id", timeout=5, grace=0.5) as client,
        pytest.raises(GtpProtocolError, match="id 999"),
    ):
        client.send("genmove b")


def test_crlf_and_multi_line_replies_are_parsed(fake_engine: Path) -> None:
    with fake(fake_engine, "crlf", timeout=5) as client:
        assert client.send("genmove b") == "D4"
        assert client.send("showboard") == "line one\nline two"
        with pytest.raises(GtpError, match="I refuse"):
            client.send("refuse")
        assert client.send("echo a b") == "a b"


def test_close_kills_an_engine_that_ignores_quit_and_sigterm(fake_engine: Path) -> None:
    client = fake(fake_engine, "stubborn", timeout=5, grace=0.3)
    process = client._process
    assert process is not None
    assert client.send("echo up") == "up"
    client.close()
    assert process.poll() is not None


def test_missing_program_raises_engine_died() -> None:
    with pytest.raises(GtpEngineDied, match="cannot start"):
        GtpClient(["/nonexistent/engine"])


def test_multi_line_commands_are_rejected(fake_engine: Path) -> None:
    with fake(fake_engine, "plain", timeout=5) as client:
        with pytest.raises(ValueError, match="one line"):
            client.send("play b d4\ngenmove w")
        assert client.send("echo still fine") == "still fine"

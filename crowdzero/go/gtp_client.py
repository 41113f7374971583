"""Drive an external Go engine (GnuGo, Pachi, a checkpoint) over GTP v2.

An engine is a child process that can hang, die or print nonsense, and the match runner
must never wait on it forever. So every command has a deadline, stdout and stderr are
drained by reader threads (an engine never blocks on a full pipe, and the last lines of
stderr are at hand when it dies), and each failure is its own exception type:

* `GtpError`: the engine answered ``?`` (an illegal move, an unknown command). The
  engine is fine and the client stays usable.
* `GtpTimeout`: no answer within the deadline.
* `GtpEngineDied`: the process exited; carries its exit code and the tail of stderr.
* `GtpProtocolError`: the reply was not GTP.

After a timeout or a protocol error the engine's state no longer matches what we sent
(a late answer would be taken for the next command's), so the client stops the process;
every later `send` raises `GtpEngineDied` until `restart()`.

Commands go out with increasing numeric ids; a reply that echoes a different id is a
protocol error. Replies are parsed per the GTP spec: ``=``/``?`` then an optional id,
a body that may span lines, CR characters ignored, an empty line ending the reply.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import queue
import select
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import cast

DEFAULT_TIMEOUT = 30.0
DEFAULT_GRACE = 2.0
_STDERR_LINES = 40


class GtpClientError(RuntimeError):
    """Base of every failure talking to a GTP engine."""


class GtpError(GtpClientError):
    """The engine answered ``?``: it understood the command and refused it."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"engine refused {command!r}: {message}")
        self.command = command
        self.message = message


class GtpTimeout(GtpClientError):
    """The engine did not answer within the deadline (it was stopped)."""


class GtpEngineDied(GtpClientError):
    """The engine process is gone."""

    def __init__(self, message: str, returncode: int | None, stderr_tail: str) -> None:
        detail = f"{message} (exit code {returncode})"
        if stderr_tail:
            detail += f"; last stderr:\n{stderr_tail}"
        super().__init__(detail)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class GtpProtocolError(GtpClientError):
    """The engine printed something that is not a GTP reply (it was stopped)."""


@dataclass(frozen=True)
class _Reply:
    success: bool
    id: int | None
    body: str


@dataclass(frozen=True)
class _Garbage:
    text: str


class _Eof:
    pass


_EOF = _Eof()
_Item = _Reply | _Garbage | _Eof


class GtpClient:
    """One engine process spoken to over GTP; `send` answers one command."""

    def __init__(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        """Start `argv`; `timeout` is the default seconds per command, `grace` how long
        `close` waits for the engine to quit, and then to terminate, before killing it."""
        if not argv:
            raise ValueError("argv must name an engine program")
        self.argv = list(argv)
        self.timeout = timeout
        self._cwd = cwd
        self._env = env
        self.grace = grace
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[_Item] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._threads: list[threading.Thread] = []
        self._next_id = 1
        self._stopped_because: str | None = None
        self._lock = threading.Lock()
        self._start()

    # ------------------------------------------------------------------ lifecycle

    def _start(self) -> None:
        try:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self._cwd,
                env=self._env,
                bufsize=0,
            )
        except OSError as exc:
            raise GtpEngineDied(f"cannot start {self.argv[0]}: {exc}", None, "") from exc
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        os.set_blocking(process.stdin.fileno(), False)
        self._process = process
        self._replies = queue.Queue()
        self._stderr = collections.deque(maxlen=_STDERR_LINES)
        self._stopped_because = None
        # Buffered readers: readline on the raw pipes would cost a system call per byte.
        stdout = io.BufferedReader(cast(io.RawIOBase, process.stdout))
        stderr = io.BufferedReader(cast(io.RawIOBase, process.stderr))
        self._threads = [
            threading.Thread(target=_read_replies, args=(stdout, self._replies), daemon=True),
            threading.Thread(target=_read_stderr, args=(stderr, self._stderr), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def restart(self) -> None:
        """Stop the engine (politely if it still answers) and start a fresh one."""
        with self._lock:
            self._stop(polite=True)
            self._start()

    def close(self) -> None:
        """Send ``quit``, then terminate and finally kill the process; idempotent."""
        with self._lock:
            self._stop(polite=True)

    def __enter__(self) -> GtpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()

    @property
    def alive(self) -> bool:
        """True while the process runs and the client is in step with it."""
        return (
            self._process is not None
            and self._stopped_because is None
            and self._process.poll() is None
        )

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stderr_tail(self) -> str:
        """The last lines the engine wrote to stderr."""
        return "\n".join(self._stderr)

    # ------------------------------------------------------------------ commands

    def send(self, command: str, timeout: float | None = None) -> str:
        """Send one command; return the reply body (without ``=``/id).

        Raises GtpError, GtpTimeout, GtpEngineDied or GtpProtocolError.
        """
        return self.send_many([command], timeout)[0]

    def send_many(self, commands: Iterable[str], timeout: float | None = None) -> list[str]:
        """Send several commands in one write and collect their replies in order.

        Pipelining saves a round trip per command (what makes move-by-move checks
        against GnuGo fast). Every reply is read before the first ``?`` is raised as a
        GtpError, so the client stays in step with the engine.
        """
        limit = self.timeout if timeout is None else timeout
        with self._lock:
            lines = [_clean_command(command) for command in commands]
            if not lines:
                return []
            self._check_usable(lines[0])
            first_id = self._next_id
            self._next_id += len(lines)
            payload = "".join(f"{first_id + i} {line}\n" for i, line in enumerate(lines))
            self._write(payload.encode("utf-8"), lines[0], time.monotonic() + limit)
            bodies: list[str] = []
            refusal: GtpError | None = None
            for i, line in enumerate(lines):
                reply = self._receive(line, first_id + i, limit)
                if not reply.success and refusal is None:
                    refusal = GtpError(line, reply.body)
                bodies.append(reply.body)
            if refusal is not None:
                raise refusal
            return bodies

    def _check_usable(self, command: str) -> None:
        if self._process is None:
            raise GtpEngineDied(f"engine {self.argv[0]} is closed", None, "")
        if self._stopped_because is not None:
            raise GtpEngineDied(
                f"engine {self.argv[0]} was stopped ({self._stopped_because}); call restart()",
                self._process.poll(),
                self.stderr_tail(),
            )
        code = self._process.poll()
        if code is not None:
            raise self._died(f"engine {self.argv[0]} exited before {command!r}")

    def _write(self, data: bytes, command: str, deadline: float) -> None:
        """Write without ever blocking past the deadline (a hung engine stops reading)."""
        assert self._process is not None and self._process.stdin is not None
        fd = self._process.stdin.fileno()
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abandon(f"it did not read {command!r}")
                raise GtpTimeout(f"engine {self.argv[0]} did not read {command!r} in time")
            _, writable, _ = select.select([], [fd], [], remaining)
            if not writable:
                continue
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                message = f"engine {self.argv[0]} exited before reading {command!r}"
                raise self._died(message) from None
            view = view[written:]

    def _receive(self, command: str, expected_id: int, limit: float) -> _Reply:
        try:
            item = self._replies.get(timeout=limit)
        except queue.Empty:
            self._abandon(f"no answer to {command!r}")
            raise GtpTimeout(
                f"engine {self.argv[0]} did not answer {command!r} within {limit:g}s; "
                "it was stopped"
            ) from None
        if isinstance(item, _Eof):
            raise self._died(f"engine {self.argv[0]} exited while answering {command!r}")
        if isinstance(item, _Garbage):
            self._abandon("it printed something that is not GTP")
            raise GtpProtocolError(
                f"engine {self.argv[0]} answered {command!r} with non-GTP output: "
                f"{item.text[:200]!r}"
            )
        if item.id is not None and item.id != expected_id:
            self._abandon("its reply ids are out of step")
            raise GtpProtocolError(
                f"engine {self.argv[0]} answered {command!r} with id {item.id}, "
                f"expected {expected_id}"
            )
        return item

    def _died(self, message: str) -> GtpEngineDied:
        assert self._process is not None
        try:
            code = self._process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        for thread in self._threads[1:]:  # let the stderr reader catch the last words
            thread.join(timeout=1.0)
        self._stopped_because = self._stopped_because or "it exited"
        return GtpEngineDied(message, code, self.stderr_tail())

    def _abandon(self, reason: str) -> None:
        """Kill an engine we are out of step with; later sends say why."""
        self._stopped_because = reason
        self._kill(patient=False)

    def _stop(self, polite: bool) -> None:
        process = self._process
        if process is None:
            return
        if polite and process.poll() is None and self._stopped_because is None:
            try:
                self._write(b"quit\n", "quit", time.monotonic() + self.grace)
                self._replies.get(timeout=self.grace)
            except (GtpClientError, queue.Empty):
                pass
        self._kill(patient=polite)
        self._process = None

    def _kill(self, patient: bool) -> None:
        """End the process: close its stdin and (if `patient`) give it `grace` seconds
        to exit, then SIGTERM, then SIGKILL."""
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=self.grace if patient else 0.01)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in self._threads:
            thread.join(timeout=1.0)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _clean_command(command: str) -> str:
    line = command.strip()
    if not line:
        raise ValueError("empty GTP command")
    if "\n" in line or "\r" in line:
        raise ValueError(f"a GTP command is one line: {command!r}")
    return line


def parse_reply(lines: Sequence[str]) -> _Reply | None:
    """A reply from its lines (CR removed, no terminating blank line); None if not GTP."""
    first = lines[0]
    if not first or first[0] not in "=?":
        return None
    head, _, rest = first[1:].partition(" ")
    reply_id: int | None = None
    if head.isdigit():
        reply_id = int(head)
        body_first = rest
    elif head == "":
        body_first = rest
    else:
        return None
    body = "\n".join([body_first.strip(), *lines[1:]]).strip()
    return _Reply(success=first[0] == "=", id=reply_id, body=body)


def _read_replies(stream: object, replies: queue.Queue[_Item]) -> None:
    """Reader thread: split stdout into replies (blank-line terminated) until EOF."""
    lines: list[str] = []
    readline = stream.readline  # type: ignore[attr-defined]
    try:
        while True:
            raw: bytes = readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").replace("\r", "").rstrip("\n")
            if line.strip() == "":
                if lines:
                    reply = parse_reply(lines)
                    replies.put(_Garbage("\n".join(lines)) if reply is None else reply)
                    lines = []
                continue  # blank lines between replies are harmless
            if not lines and line[0] not in "=?":
                replies.put(_Garbage(line))  # don't wait for a blank line that may never come
                continue
            lines.append(line)
    except (OSError, ValueError):
        pass
    # A reply cut off by the exit is dropped: the engine died, which is what to report.
    replies.put(_EOF)


def _read_stderr(stream: object, tail: collections.deque[str]) -> None:
    readline = stream.readline  # type: ignore[attr-defined]
    try:
        while True:
            raw: bytes = readline()
            if not raw:
                break
            tail.append(raw.decode("utf-8", "replace").rstrip())
    except (OSError, ValueError):
        pass

"""Child-process supervision for the demo: start, log, wait for readiness, stop cleanly.

Every child runs in its own session (`start_new_session=True`), so stopping it signals
its whole process group (a child's own helpers included) and a Ctrl-C in the terminal
reaches only the supervisor, which then stops the children in reverse start order:
SIGTERM, a grace period, then SIGKILL. Output goes to `<log_dir>/<name>.log`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from relstream.core.errors import RelstreamError
from relstream.core.processes import RESTART_EXIT_CODE, group_alive, stop_group
from relstream.core.retry import Backoff, NotYet, retry

log = logging.getLogger(__name__)


class SupervisorError(RelstreamError):
    """A child could not be started, died, or did not become ready in time."""


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    stopped_with: str | None = None
    """How it ended when we stopped it: 'SIGTERM', 'SIGKILL' or 'exited'."""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Starts children with logs in one folder and stops every one of them on `close`."""

    def __init__(self, log_dir: Path, term_timeout_s: float = 20.0) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.term_timeout_s = term_timeout_s
        self.children: dict[str, Child] = {}

    def start(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start `argv` as child `name`, stdout and stderr to `<log_dir>/<name>.log`."""
        if name in self.children and self.children[name].alive():
            raise SupervisorError(f"a child named {name!r} is already running")
        log_path = self.log_dir / f"{name}.log"
        out = open(log_path, "ab")  # noqa: SIM115 - the child owns it; closed below
        out.write(f"--- {time.strftime('%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
            )
        except OSError as exc:
            raise SupervisorError(f"cannot start {name} ({argv[0]}): {exc}") from exc
        finally:
            out.close()  # the child has its own descriptor now
        child = Child(name, list(argv), proc, log_path, dict(env) if env is not None else None,
                      cwd)
        self.children[name] = child
        log.info("started %s (pid %d), log %s", name, proc.pid, log_path)
        return child

    def run(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, timeout_s: float = 600.0,
    ) -> int:
        """Run a short job as a supervised child and wait for it; returns its exit code."""
        child = self.start(name, argv, env=env, cwd=cwd)
        try:
            child.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop(name)
            raise SupervisorError(
                f"{name} did not finish within {timeout_s:.0f} s; see {child.log_path}"
            ) from None
        child.stopped_with = "exited"
        return child.proc.returncode

    def wait_ready(
        self, name: str, ready: Callable[[], bool], timeout_s: float, *, poll_s: float = 0.5,
    ) -> float:
        """Poll `ready()` until true; raise if the child exits or the time runs out.

        Returns the seconds waited.
        """
        child = self.children[name]

        def probe() -> bool:
            if not child.alive():
                raise SupervisorError(
                    f"{name} exited with code {child.returncode()} before it was ready; "
                    f"last lines of {child.log_path}:\n{child.log_tail()}")
            try:
                answer = ready()
            except Exception as exc:  # a probe failing is the same as "not yet"
                raise NotYet(f"{type(exc).__name__}: {exc}") from exc
            if not answer:
                raise NotYet("not ready")
            return True

        began = time.monotonic()
        try:
            retry(probe, retry_on=NotYet, backoff=Backoff(poll_s, 1.0, poll_s),
                  deadline_s=timeout_s, what=f"{name} readiness probe",
                  log_level=logging.DEBUG)
        except NotYet:
            raise SupervisorError(
                f"{name} was not ready within {timeout_s:.0f} s; last lines of "
                f"{child.log_path}:\n{child.log_tail()}") from None
        return time.monotonic() - began

    def revive(self) -> list[Child]:
        """Start again every child that exited asking for it (`RESTART_EXIT_CODE`: a stream
        processor whose table restore stalled), as docker-compose's restart policy does;
        returns the new children."""
        revived = []
        for child in list(self.children.values()):
            if child.stopped_with is None and child.returncode() == RESTART_EXIT_CODE:
                log.warning("%s exited with code %d (it asks to be restarted): starting it "
                            "again", child.name, RESTART_EXIT_CODE)
                new = self.start(child.name, child.argv, env=child.env, cwd=child.cwd)
                new.restarts = child.restarts + 1
                revived.append(new)
        return revived

    def dead(self) -> list[Child]:
        """Children that exited while they were supposed to run."""
        return [c for c in self.children.values() if c.stopped_with is None and not c.alive()]

    def stop(self, name: str, timeout_s: float | None = None) -> str:
        """SIGTERM the child's process group, wait, then SIGKILL; returns how it ended."""
        child = self.children[name]
        if child.stopped_with is not None and not group_alive(child.pid):
            return child.stopped_with
        grace = self.term_timeout_s if timeout_s is None else timeout_s
        how = stop_group(child.pid, grace, leader=child.proc)
        if how == "SIGKILL":
            log.warning("%s ignored SIGTERM for %.0f s: killed it", name, grace)
        child.stopped_with = how
        log.info("stopped %s (%s, exit code %s)", name, how, child.returncode())
        return how

    def kill(self, name: str) -> None:
        """SIGKILL the child's process group at once, with no SIGTERM first (failure drills);
        waits until the group is gone and marks the child stopped."""
        child = self.children[name]
        stop_group(child.pid, 0.0, leader=child.proc, term=False)
        child.stopped_with = "SIGKILL"
        log.info("killed %s (SIGKILL)", name)

    def stop_all(self) -> dict[str, str]:
        """Stop every child, the last started first (servers before what feeds them)."""
        results = {}
        for name in reversed(list(self.children)):
            try:
                results[name] = self.stop(name)
            except Exception as exc:  # keep stopping the others whatever happens to one
                log.error("could not stop %s: %s", name, exc)
                results[name] = f"error: {exc}"
        return results

    def leftovers(self) -> list[int]:
        """Process-group ids of children that still have a live process."""
        return [c.pid for c in self.children.values() if group_alive(c.pid)]


@contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Within the block, SIGTERM (like Ctrl-C's SIGINT) raises KeyboardInterrupt.

    So a `finally` that stops the children runs whichever way the demo is told to end.
    """
    def handler(signum: int, frame: FrameType | None) -> Any:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

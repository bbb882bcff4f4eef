"""The flusher in a process of its own: the API process writes the WAL, a child commits it.

Moving sealed segments into Delta (reading them, Arrow and Parquet work, the commit) takes
the GIL in many short turns. Inside the API process each turn is taken from the request
handler, and the handover itself costs both threads (measured: the handler spent about a
quarter more CPU per event with the flusher thread beside it than without). A child process
does the same work with no GIL to share.

The API process keeps owning its WAL: it seals segments, decides when to flush, and retires
(deletes) a segment only after the child answers that its commit is in. The child reads the
sealed segments, commits them with the slot's application-transaction id (so exactly-once
holds as with the thread: a repeated commit is a no-op), and adopts orphan slots. They talk
over the child's standard input and output, one line each way::

    flush <last sealed seq>   ->   ok <rows> <seq,seq,...>     (the segments committed)
    adopt                     ->   ok <rows>
    (any failure)             ->   error <message>

The child inherits the slot's lock, so the slot stays held while it works even if the API
process dies (a restarted process takes another slot and adopts this one once the child is
done). It runs in a process group of its own and ignores SIGINT and SIGTERM, which a
terminal or a service manager sends to a whole group, and exits when its standard input
closes: at the end of the API process, orderly or not, once the command in hand is finished.

``growthos serve`` runs the flusher this way (``GROWTHOS_FLUSHER_PROCESS``, on by default);
the thread (:class:`~growthos_pipeline.ingest.flush.Flusher`) remains for embedded use.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from growthos_pipeline.ingest.flush import Flusher, adopt_orphan_slots, commit_sealed
from growthos_pipeline.ingest.wal import _segments

log = logging.getLogger(__name__)

#: Seconds the API process waits for the child to finish its command when stopping.
STOP_TIMEOUT_S = 60.0


class ProcessFlusher(Flusher):
    """A :class:`Flusher` whose commits run in a child process (see the module docs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._child: subprocess.Popen[bytes] | None = None  # started by start() or on demand

    # ---- the child -----------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "growthos_pipeline.ingest.committer",
            "--table-uri",
            self.table.table_uri,
            "--slot-dir",
            str(self.slot.directory),
            "--app-id",
            self.slot.app_id,
            "--wal-root",
            str(self.wal_root),
        ]
        return subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(self.slot.lock_fd,),
            close_fds=True,
            # Out of the API process's group: Ctrl-C in a terminal or a signal to the group
            # does not reach it in the middle of a commit (it also ignores them, once loaded).
            process_group=0,
        )

    def _ask(self, line: str) -> list[str]:
        """Send one command and read the answer's words (after ``ok``)."""
        child = self._child
        if child is None or child.poll() is not None:
            if child is not None:
                log.warning("flusher process exited with %s; starting another", child.returncode)
            child = self._child = self._spawn()
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.write(line.encode() + b"\n")
            child.stdin.flush()
            answer = child.stdout.readline().decode()
        except (BrokenPipeError, ValueError):
            answer = ""
        if not answer:
            code = child.wait()
            self._child = None
            raise RuntimeError(f"the flusher process exited with {code}")
        kind, _, rest = answer.rstrip("\n").partition(" ")
        if kind != "ok":
            raise RuntimeError(rest or answer.strip())
        return rest.split()

    # ---- the Flusher interface -----------------------------------------------------------

    def start(self) -> None:
        self._child = self._spawn()
        super().start()

    def close(self) -> None:
        """Let the child finish its command and exit (after :meth:`stop` and the final
        flush)."""
        self._close_child()

    def _close_child(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.stdin is not None:
            with contextlib.suppress(OSError):
                child.stdin.close()
        try:
            child.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.error("flusher process did not stop in %.0f s; killing it", STOP_TIMEOUT_S)
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    def flush_pending(self) -> int:
        with self._lock:
            sealed = self.wal.sealed()
            written = 0
            if sealed:
                words = self._ask(f"flush {sealed[-1][0]}")
                written = int(words[0])
                for seq in words[1].split(",") if len(words) > 1 else ():
                    self.wal.retire(int(seq))
            self.rows_flushed += written
            self.last_flush_at = time.time()
            return written

    def adopt_orphans(self) -> int:
        with self._lock:
            return int(self._ask("adopt")[0])


# ---- the child process ---------------------------------------------------------------------


def serve(table_uri: str, slot_dir: Path, app_id: str, wal_root: Path) -> None:
    """Answer commands from standard input until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    table = DeltaTable(table_uri)
    commits = 0
    out = sys.stdout.buffer
    for raw in sys.stdin.buffer:
        words = raw.decode().split()
        if not words:
            continue
        try:
            if words[0] == "flush":
                upto = int(words[1])
                sealed = [(seq, path) for seq, path in _segments(slot_dir) if seq <= upto]
                retired: list[int] = []
                written = commit_sealed(table, app_id, sealed, retired.append)
                commits += 1 if written else 0
                if commits >= 100:  # a fresh handle from the checkpoint, as the thread does
                    table, commits = DeltaTable(table_uri), 0
                answer = f"ok {written} {','.join(map(str, retired))}".rstrip()
            elif words[0] == "adopt":
                answer = f"ok {adopt_orphan_slots(table, wal_root, own=slot_dir)}"
            else:
                answer = f"error unknown command {words[0]!r}"
        except Exception as exc:  # reported to the API process, which keeps the segments
            log.exception("flush failed")
            answer = "error " + f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        out.write(answer.encode() + b"\n")
        out.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-uri", required=True)
    parser.add_argument("--slot-dir", required=True, type=Path)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--wal-root", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        format=f"%(asctime)s flusher[{os.getpid()}] %(levelname)s %(message)s",
    )
    serve(args.table_uri, args.slot_dir, args.app_id, args.wal_root)


if __name__ == "__main__":
    main()

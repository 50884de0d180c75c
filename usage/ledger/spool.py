"""The last-resort ledger: a local append-only file for events that neither Redis nor the database took.

``usage_events_publish`` tries the Redis stream, then the database; when both fail the events are
appended here (a JSON line each, flushed and fsynced) so a double outage never loses a call. ``usage_spool_drain``
(run by the flush task and ``manage.py drain_ledger`` on the same host) re-ingests the files into the
database - idempotent on ``request_id`` - and deletes them once committed.

Files are ``<TOKENWISE_LEDGER_SPOOL_DIR>/events-<host>-<pid>.jsonl``. A drain first renames a file to
``*.draining`` (atomic), then takes its lock: a writer holds the same ``flock`` while appending and
re-opens when the path no longer names its file, so no line can land in a file already read.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
from pathlib import Path

from django.conf import settings

from usage.ledger.event_record import UsageEventData
from usage.ledger.ingest import usage_events_ingest

logger = logging.getLogger(__name__)

_ACTIVE_SUFFIX = ".jsonl"
_DRAINING_SUFFIX = ".draining"
_write_lock = threading.Lock()


def spool_dir() -> Path:
    return Path(settings.TOKENWISE_LEDGER_SPOOL_DIR)


def _spool_path() -> Path:
    return spool_dir() / f"events-{socket.gethostname()}-{os.getpid()}{_ACTIVE_SUFFIX}"


def usage_spool_append(*, events: list[UsageEventData]) -> None:
    """Append events to this process's spool file, durably (one write, flush + fsync) before returning.

    Raises OSError when the disk itself fails: then there is nowhere left to put them.
    """
    lines = "".join(event.to_json() + "\n" for event in events).encode()
    path = _spool_path()
    with _write_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
                except FileNotFoundError:
                    same_file = False
                if same_file:  # not renamed away by a drain between open and lock
                    view = memoryview(lines)
                    while view:  # a regular file takes it in one write; a short one is continued
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                    return
            finally:
                os.close(fd)  # closing releases the lock


def usage_spool_backlog() -> int:
    """Number of events waiting in spool files on this host (lines; a torn last line counts too)."""
    total = 0
    folder = spool_dir()
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        if path.name.endswith((_ACTIVE_SUFFIX, _DRAINING_SUFFIX)):
            try:
                with path.open("rb") as handle:
                    total += sum(1 for line in handle if line.strip())
            except FileNotFoundError:
                continue  # drained meanwhile
    return total


def _claim(path: Path) -> Path | None:
    if path.name.endswith(_DRAINING_SUFFIX):
        return path  # left by a drain that failed (database down): retry it
    target = path.with_name(path.name + _DRAINING_SUFFIX)
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None  # another drain took it
    return target


def _read_events(path: Path) -> list[UsageEventData]:
    events = []
    with path.open("rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # waits for a writer still appending
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                events.append(UsageEventData.from_json(line))
            except (TypeError, ValueError):
                # Only a crash mid-write can tear a line; keep it for a human rather than drop it.
                logger.error("spool %s line %d unreadable; kept in %s.bad", path.name, number, path.name)
                with path.with_name(path.name + ".bad").open("ab") as bad:
                    bad.write(line)
    return events


def usage_spool_drain() -> int:
    """Re-ingest every spool file of this host into the database; returns the events that were new.

    Idempotent (ingest skips known ``request_id``s) and safe to run from several processes at once.
    A file is deleted only after its events are committed; a database error propagates and leaves the
    file (as ``*.draining``) for the next drain.
    """
    folder = spool_dir()
    if not folder.is_dir():
        return 0
    inserted = 0
    for path in sorted(folder.iterdir()):
        if not path.name.endswith((_ACTIVE_SUFFIX, _DRAINING_SUFFIX)):
            continue
        claimed = _claim(path)
        if claimed is None:
            continue
        try:
            events = _read_events(claimed)
        except FileNotFoundError:
            continue  # another drain finished it
        if events:
            inserted += usage_events_ingest(events=events)
        claimed.unlink(missing_ok=True)
        logger.info("ledger spool %s re-ingested: %d events, %d new", claimed.name, len(events), inserted)
    return inserted

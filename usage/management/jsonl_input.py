"""The input side shared by the JSON Lines import commands: a file or stdin, and a progress bar."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

from django.core.management.base import CommandError
from tqdm import tqdm


@contextlib.contextmanager
def jsonl_source(
    path: str, *, stderr, progress: bool, desc: str
) -> Iterator[tuple[BinaryIO, Callable[[int], object] | None]]:
    """Open ``path`` (``-`` = stdin) and yield it with a byte-progress callback (None without a bar).

    The bar goes to stderr - when it is a terminal, or when ``progress`` asks - so stdout stays clean.
    Raises CommandError when the file cannot be read.
    """
    try:
        source = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    bar = None
    if progress or stderr.isatty():
        total = None if path == "-" else os.path.getsize(path)
        bar = tqdm(total=total, unit="B", unit_scale=True, file=stderr, desc=desc)
    try:
        yield source, (bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
        if source is not sys.stdin.buffer:
            source.close()

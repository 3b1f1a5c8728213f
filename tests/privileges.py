"""Making files really unreadable, also when the tests run as root.

chmod 000 does not stop root, so as root the check runs with the effective uid switched
to ``nobody`` (and back). Paths used must then be reachable by that user: make them
under ``public_dir()``, not pytest's tmp_path (which lives in a 0700 folder).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

NOBODY = 65534


@contextlib.contextmanager
def public_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ragcli-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for folder, dirs, _files in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o755)
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def unprivileged() -> Iterator[bool]:
    """Yields True if permission bits are enforced inside the block.

    Not root: nothing to do (True). Root: drop the effective uid to ``nobody`` for the
    block (True), or, where that is not permitted, yield False so the caller can assert
    what root sees instead.
    """
    if os.geteuid() != 0:
        yield True
        return
    try:
        os.seteuid(NOBODY)
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        os.seteuid(0)

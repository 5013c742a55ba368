"""Writing the report's files: never through a file or link someone planted in the output directory.

Each file is written to a new temporary file in the output directory, created exclusively
(`tempfile.mkstemp`: `O_CREAT | O_EXCL`, and `O_NOFOLLOW` where the platform has it, under a random
name), then renamed over its final name. A file or link named like a temporary file is never
opened; a link at the final name is replaced by the rename, its target left alone. A failed write
removes its temporary file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["exclusive_file", "write_file"]

FILE_MODE = 0o644
"""A report is for reading: the mode mkstemp's 0600 is widened to."""


@contextmanager
def exclusive_file(directory: Path, name: str) -> Iterator[BinaryIO]:
    """A binary file object for `directory/name`: a fresh temporary file, renamed into place when the
    block ends without an exception."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            fd = -1  # the file object owns it now
            yield f
        os.replace(tmp, directory / name)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise


def write_file(directory: Path, name: str, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `directory/name` through `exclusive_file`; the final path."""
    with exclusive_file(directory, name) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return directory / name

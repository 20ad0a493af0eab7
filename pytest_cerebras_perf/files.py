"""Every file the plugin writes goes through :func:`write_atomic`: so a crash never leaves half a
file, and so no registered secret reaches the disk (the one redaction point of every artifact:
results, report, exports, step summary, baselines).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .redact import redact


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text``, redacted, to ``path`` via a temporary file in the same folder and ``os.replace``.

    Readers see the old file or the new one, never a mix; a failure midway leaves the old file.
    """
    text = redact(text)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp_name, _mode_for(path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    """Keep an existing file's mode; a new file gets the usual 0666 minus umask (mkstemp uses 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask

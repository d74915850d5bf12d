"""Output files the sinks write: under a temporary name beside the target, renamed into place once written.

The one rule for every file sink (``VideoWriterSink``, ``JsonlSink``): an existing file at ``path`` is replaced
only when the run wrote something to it (``commit``); a run that wrote nothing, or whose write failed, leaves it as
it was (``discard``). A reader of ``path`` never sees a half-written file, and an output that names an input can no
longer truncate it while it is read (``run_app`` refuses that case outright).

Sinks create no directory on their own: a missing parent directory is an error that names it (a graph file must
not be able to make directories anywhere). Write failures are ``OSError``s naming the file and the cause
(``describe_os_error``), e.g. "no space left on device".
"""

from __future__ import annotations

import os
from pathlib import Path

TEMP_PREFIX = "."
TEMP_MARK = ".partial-"


def describe_os_error(exc: OSError) -> str:
    """The cause of a failed write in a few words ("no space left on device", "permission denied", ...)."""
    if exc.errno is not None:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def disk_full(directory: Path) -> bool:
    """Whether the file system holding ``directory`` has no block left for this user."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail == 0


def no_space_error(path: Path) -> OSError:
    return OSError(f"cannot write '{path}': no space left on device; free some space or write elsewhere")


def temp_path(path: str | Path, pid: int | None = None) -> Path:
    """Where process ``pid`` (default: this one) writes ``path`` until it is committed: hidden, same directory,
    same suffix (OpenCV picks the container from it), the process id so two runs never share one."""
    path = Path(path)
    return path.parent / f"{TEMP_PREFIX}{path.stem}{TEMP_MARK}{os.getpid() if pid is None else pid}{path.suffix}"


class PendingOutput:
    """``path``'s temporary twin (``temp_path``): ``temp`` is written, then ``commit()`` renames it over ``path``."""

    def __init__(self, path: str | Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        parent = self.path.parent
        if not parent.is_dir():
            raise FileNotFoundError(f"{what}: directory '{parent}' does not exist; create it first (sinks make no "
                                    "directories)")
        if self.path.is_dir():
            raise IsADirectoryError(f"{what}: '{self.path}' is a directory; name a file")
        self.temp = temp_path(self.path)

    def commit(self) -> None:
        """Put the written file in place (atomically replacing any file already at ``path``)."""
        os.replace(self.temp, self.path)

    def discard(self) -> None:
        """Remove the temporary file; ``path`` is left as it was."""
        self.temp.unlink(missing_ok=True)

"""Files written by a node and the files it trusts: written atomically through a temporary file nobody can guess
or plant (``mkstemp``: O_EXCL in the target directory, so no symlink is followed), opened for appending and
locking without following symlinks, and checked for permissions that give secrets away or let others write."""
from __future__ import annotations

import os
import stat
import tempfile


def write_atomic(path: str, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: a reader sees the old or the new file, never half of one. The file keeps
    the permissions it had (``mode`` for a new one). ``durable``: the file and the directory are fsynced (the
    write survives a power loss); without, it costs no disk wait."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        mode = stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if not durable:
        return
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def open_no_follow(path: str, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses a symlink at ``path`` (ELOOP) instead of writing where it points."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)


def exposure(path: str, secret: bool) -> str | None:
    """What is wrong with the permissions of ``path`` (None: nothing): a secret readable by others, or a file
    (or its directory) that others may write."""
    try:
        st = os.stat(path)
        dst = os.stat(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return None  # a missing file is somebody else's error to report
    if secret and st.st_mode & stat.S_IROTH:
        return f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}; chmod o-r)"
    if st.st_mode & stat.S_IWOTH:
        return f"{path} is writable by others (mode {stat.S_IMODE(st.st_mode):o}; chmod o-w)"
    if dst.st_mode & stat.S_IWOTH and not dst.st_mode & stat.S_ISVTX:
        return f"the directory of {path} is writable by others: they can replace the file"
    return None

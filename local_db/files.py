"""The replica's files on disk: owner-only permissions, and refusing a file fycli cannot write.

The replica holds citizens' names, addresses and callback phones, so it and the files SQLite
keeps beside it (``-wal``, ``-shm``, ``-journal``) are readable by their owner only (0600),
and the directories fycli creates are 0700. SQLite creates its side files with the mode of the
database file, so a replica made 0600 keeps its side files 0600 too.

Nothing here opens the database file of a replica that may be open: a process that opens and
closes the file outside SQLite drops its own SQLite locks on it (see schema.inspect_file).
Creating a file that does not exist yet is safe: no connection to it can exist.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from local_db.api import ReplicaError
from local_db.schema import readonly_error, side_files

#: The mode of the replica and its side files; of the directories fycli creates.
FILE_MODE = 0o600
DIR_MODE = 0o700

#: chmod means something only on POSIX (on Windows it only sets the read-only flag).
_POSIX = os.name == "posix"


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) if needed; the last one made is 0700."""
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if _POSIX:
        os.chmod(directory, DIR_MODE)  # mkdir's mode is narrowed by the umask; set it exactly


def create_private_file(path: Path) -> None:
    """Create an empty replica file 0600 (before SQLite first opens it, so it never was 0644)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return  # another process made it a moment ago: it is checked like any existing file
    except OSError as e:
        raise ReplicaError(f"cannot create {path}: {e.strerror}") from e
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def restrict_modes(path: Path) -> None:
    """Make the replica and its side files owner-only, when this user owns them.

    A replica made by an older fycli was 0644. Only group and other bits are taken away (a
    file the owner made read-only stays read-only); files of another user are left alone.
    """
    if not _POSIX:
        return
    uid = os.geteuid()
    for file in (path, *side_files(path)):
        try:
            info = file.stat()
        except OSError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid == uid and mode & 0o077:
            # A file system without permissions (FAT) refuses: nothing more fycli can do there.
            with contextlib.suppress(OSError):
                os.chmod(file, mode & 0o700)


def check_writable(path: Path) -> None:
    """Refuse, with what to do, a replica this user cannot write, *before* SQLite touches it.

    Left to SQLite, a read-only replica failed at its first write (a traceback), and SQLite had
    meanwhile created ``-wal``/``-shm`` with the file's read-only mode, so that after the owner
    made the replica writable again it still could not be used (and was called "damaged").
    """
    if not _POSIX:
        return
    for file in (path, *side_files(path)[:2]):
        if file.exists() and not os.access(file, os.W_OK):
            raise readonly_error(file)
    folder = path.parent
    if not path.with_name(path.name + "-wal").exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise ReplicaError(
            f"the folder {folder} is read-only for you, and fycli needs to create {path.name}-wal "
            f"beside {path.name}; nothing was changed. Make the folder writable (as its owner: "
            f"`chmod u+w {folder}`), or move the replica to a folder of yours (FYCLI_DB)."
        )

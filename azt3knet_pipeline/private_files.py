"""Files that hold secrets or private state: folders 0700, files 0600, written atomically, never through a link.

Used for the store's SQLite files, the Dagster instance folder, the exports folder and every credential file.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from azt3knet_pipeline.errors import UnsafePathError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077
# Pseudo-filesystems: a "file" there is a kernel interface, never a place for credentials (/dev/shm, a RAM
# disk, is allowed; device nodes anywhere are refused by their type).
SPECIAL_ROOTS = ("/proc", "/sys", "/dev")
ALLOWED_UNDER_SPECIAL = ("/dev/shm",)


def restrict_umask() -> int:
    """Make everything this process creates private (0600 files, 0700 folders), Dagster's files included.
    Called by the CLI and API entry points; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def ensure_private_dir(path: Path, *, tighten_existing: bool = False) -> Path:
    """Create `path` and any missing parents with mode 0700. Existing folders keep their mode (an operator's
    /var/lib or /tmp is not ours to tighten) unless `tighten_existing` and this user owns `path`."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            pass  # made concurrently by another process: fine, it is a folder check below
        else:
            os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        raise UnsafePathError(f"{path} is not a folder")
    info = os.lstat(path)
    if tighten_existing and not missing and stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def ensure_private_file(path: Path) -> Path:
    """Create an empty file with mode 0600 unless it exists (never through a link); tighten our own existing
    file and its SQLite companions (-wal, -shm, -journal) to 0600. SQLite gives companions the database's mode."""
    path = Path(path)
    ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        tighten(candidate)
    return path


def tighten(path: Path) -> None:
    """chmod 0600 a regular file this user owns (links, special files and others' files are left alone)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) != PRIVATE_FILE_MODE:
        os.chmod(path, PRIVATE_FILE_MODE)


def check_target(path: str | Path, *, replace: bool) -> Path:
    """The absolute target for a private file write, or UnsafePathError (one line) saying why not.

    The folder must exist (never created silently); the target must be absent, or with `replace` a regular
    file. Links are not followed: a symlink target is refused, whatever it points at.
    """
    text = str(path)  # a str, not Path: Path("") would be "."
    if not text.strip():
        raise UnsafePathError("the output path is empty")
    path = Path(os.path.abspath(text))
    parent = path.parent
    if _under_special_root(path) or _under_special_root(parent.resolve() / path.name):
        raise UnsafePathError(f"{path}: refusing to write under {', '.join(SPECIAL_ROOTS)} (kernel/device files)")
    if not parent.is_dir():
        raise UnsafePathError(f"{path}: folder {parent} does not exist (create it first; it is never created for you)")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise UnsafePathError(f"{path}: cannot inspect the target ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"{path} is a symbolic link: refusing to write through it")
    if stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"{path} is a folder: give a file path")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(f"{path} is not a regular file ({_kind(info.st_mode)}): refusing to replace it")
    if not replace:
        raise UnsafePathError(f"{path} already exists: refusing to overwrite it (pass --force to replace it)")
    return path


def write_private(path: str | Path, data: bytes, *, replace: bool = False) -> Path:
    """Write `data` to `path` with mode 0600, atomically: a new temp file (O_EXCL|O_NOFOLLOW) in the same
    folder, fsync, then link (no overwrite) or rename (`replace`, regular files only) into place.

    The target is checked first (see `check_target`); any OS error becomes a one-line UnsafePathError.
    """
    path = check_target(path, replace=replace)
    try:
        tmp = _write_temp(path.parent, path.name, data)
    except OSError as exc:
        raise UnsafePathError(f"{path}: cannot write in {path.parent} ({exc.strerror})") from None
    try:
        if replace:
            check_target(path, replace=True)  # narrow the window: it may have changed while we wrote
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
        _fsync_dir(path.parent)
    except FileExistsError:
        raise UnsafePathError(f"{path} appeared while writing: refusing to overwrite it") from None
    except OSError as exc:
        raise UnsafePathError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def prepare_private(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` to a fresh 0600 temp file beside `name` in `folder` (fsynced); the caller renames it."""
    return _write_temp(Path(folder), name, data)


def _write_temp(folder: Path, name: str, data: bytes) -> Path:
    # mkstemp opens with O_CREAT|O_EXCL and mode 0600; O_NOFOLLOW is implied for a name that did not exist.
    fd, raw = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    tmp = Path(raw)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _link_no_clobber(tmp: Path, path: Path) -> None:
    """Put `tmp` at `path` only if nothing is there (link(2) never overwrites); exclusive create elsewhere."""
    try:
        os.link(tmp, path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links on this filesystem: exclusive create (O_EXCL never follows or replaces anything).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(tmp.read_bytes())
            handle.flush()
            os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _under_special_root(path: Path) -> bool:
    def under(text: str, root: str) -> bool:
        return text == root or text.startswith(root + "/")

    text = str(path)
    return any(under(text, root) for root in SPECIAL_ROOTS) and not any(
        under(text, root) for root in ALLOWED_UNDER_SPECIAL
    )


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"

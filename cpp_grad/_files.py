"""Writing output files safely: checked before the work, replaced atomically.

Every file cpp_grad writes (a saved model, a plot, a script's JSON, IDX
files) goes through ``atomic_write``; scripts call ``check_writable`` on
their output paths before they load data or train, so a typo costs a second,
not a training run.

What "replacing the file at ``path``" means here:

- a symlink is followed to its final target, which is written (the link
  stays a link);
- only a regular file is replaced: a folder, a FIFO, a socket or a device
  node at the target is an error, never turned into a regular file;
- the new contents go to a temporary file beside the target, are flushed to
  disk, and renamed over the target in one step: a crash or a full disk
  leaves the previous file whole, and nothing stray;
- an existing file keeps its permission bits; a new file gets the ones
  ``open()`` would give it (0o666 less the umask).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = [
    "check_writable",
    "check_writable_folder",
    "atomic_write",
    "write_text",
    "check_output_args",
    "DEFLATE_MAX_RATIO",
]

# The most a deflate stream (gzip, zip) can inflate: its longest match, 258
# bytes, coded in 2 bits, plus block overhead. Readers bound what a file's
# header may promise by it before allocating.
DEFLATE_MAX_RATIO = 1032

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _final_target(path) -> Path:
    """``path`` with ``~`` expanded and every symlink followed (the target
    need not exist yet: a dangling link names the file to create)."""
    path = Path(os.fspath(path)).expanduser()
    return Path(os.path.realpath(path))


def check_writable(path) -> Path:
    """Checks that a file can be written at ``path`` and returns the path
    that will actually be written (symlinks followed).

    Raises ``FileNotFoundError`` when the folder does not exist,
    ``NotADirectoryError`` when it is not a folder, ``IsADirectoryError``
    when ``path`` is a folder, ``FileExistsError`` when it is a FIFO, socket
    or device, and ``PermissionError`` when the folder, or an existing file,
    is not writable. Nothing is created.
    """
    given = Path(os.fspath(path)).expanduser()
    target = _final_target(given)
    shown = str(given) if target == given.absolute() else f"{given} (-> {target})"
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as error:  # a symlink loop, a name too long...
        raise OSError(error.errno, f"cannot write {shown}: {error.strerror}") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(f"cannot write {shown}: it is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise FileExistsError(
                f"cannot write {shown}: it is {_kind(info.st_mode)}, not a regular file, "
                "and only a regular file is replaced"
            )
        if not os.access(target, os.W_OK):
            raise PermissionError(f"cannot write {shown}: the file is read-only")
    folder = target.parent
    if not folder.exists():
        raise FileNotFoundError(f"cannot write {shown}: folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot write {shown}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {shown}: folder {folder} is not writable")
    return target


def check_writable_folder(folder, files=()) -> Path:
    """Checks that ``files`` (names) can be written in ``folder``, which is a
    writable folder or can be created (its nearest existing parent is a
    writable folder); returns the folder. Nothing is created."""
    folder = Path(os.fspath(folder)).expanduser()
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir():
            raise NotADirectoryError(f"cannot write in {folder}: it is not a folder")
        for name in files:
            check_writable(folder / name)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write in {folder}: the folder is not writable")
        return folder
    parent = Path(os.path.realpath(folder)).parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot create {folder}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot create {folder}: folder {parent} is not writable")
    return folder


def _new_file_mode() -> int:
    """0o666 less the process's umask: what ``open(path, "w")`` would give."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)  # no way to read it without setting it
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path, text: bool = False):
    """Opens a temporary file beside ``path``'s final target for writing
    (binary, or UTF-8 text with ``text=True``) and, when the block ends without
    an exception, syncs it and renames it over the target.

    The target is checked with ``check_writable`` first. On an exception the
    temporary file is removed and the target is left as it was.
    """
    target = check_writable(path)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as stream:
            yield stream
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Makes the rename itself durable (where the platform allows it)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path, text: str) -> Path:
    """Replaces the file at ``path`` with ``text`` (UTF-8), atomically."""
    with atomic_write(path, text=True) as stream:
        stream.write(text)
    return _final_target(path)


def check_output_args(parser, args, *names: str) -> None:
    """For a script: checks the output paths in ``args.<name>`` (those that
    are set) before any work, and reports the first bad one as a usage error
    (one line, exit 2)."""
    for name in names:
        value = getattr(args, name, None)
        if value is None:
            continue
        try:
            check_writable(value)
        except OSError as error:
            parser.error(f"--{name.replace('_', '-')}: {error}")

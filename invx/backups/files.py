"""A file written whole or not at all: under a temporary name beside it, flushed to disk,
then renamed into place (click's ``File(atomic=True)`` renames a half-written file too
when the command fails)."""
import contextlib
import os
import tempfile
from pathlib import Path


class FileError(Exception):
    """The file cannot be written; the message names the cause and the fix."""


@contextlib.contextmanager
def written_whole(target):
    """Yield a temporary path beside ``target``; renamed to ``target`` once the block ends
    without error, removed otherwise."""
    target = Path(target).absolute()
    try:
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                           dir=target.parent)
    except OSError as error:
        raise FileError(f"cannot write in {target.parent}: {error.strerror}") from None
    os.close(handle)
    try:
        yield partial
        with open(partial, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(partial, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(partial)  # gone already once renamed
    _flush_directory(target.parent)


def _flush_directory(directory):
    """Make the rename durable (POSIX: the directory's entry is flushed on its own)."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def check_target(target, force, example):
    """Refuse a ``target`` that is a directory, in none, or (unless ``force``) exists."""
    target = Path(target).absolute()
    if target.is_dir():
        raise FileError(f"{target} is a directory: give a file name, such as "
                        f"{target / example}")
    if not target.parent.is_dir():
        raise FileError(f"there is no directory {target.parent}: create it first")
    if target.exists() and not force:
        raise FileError(f"{target} already exists: give another file name, or --force to "
                        "replace it")

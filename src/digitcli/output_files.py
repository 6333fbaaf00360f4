"""Writing files and folders the user names (or that digitcli keeps in its results folder).

Every write goes through `write_bytes` (`write_text`, `write_json` wrap it), which looks at what
stands at the path first:

- nothing, or a regular file: write a temporary file beside it and rename it into place, so readers
  see either the old file or the whole new one and an interrupted write leaves no half file;
- a symlink to a regular file: the same, at the link's target (the link stays a link);
- `-`, `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: the process's own stream
  (as a shell does), so `-o /dev/stdout > file` neither truncates nor replaces `file`;
- anything else (a device such as `/dev/null` or `/dev/full`, a FIFO, a symlink to one, a dangling
  symlink): opened and written in place. Nothing but our own temporary file is ever renamed or
  deleted, so a device, FIFO or symlink is never replaced by a regular file;
- a folder: refused (callers that take a folder put their file inside it first).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

from digitcli.errors import OutputError

STDOUT = "-"
_STREAM_PATHS = {"/dev/stdout": 1, "/dev/stderr": 2}
_FD_PATH = re.compile(r"^/(?:dev/fd|proc/self/fd)/(\d+)$")


def make_folder(path: Path, purpose: str = "folder") -> Path:
    """Create `path` (and its parents) or raise one OutputError line: "<path>: cannot create the
    <purpose> (<reason>)"."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = _file_in_the_way(path)
        if blocker is not None:  # mkdir says "File exists" or "Not a directory"
            raise OutputError(
                f"{path}: cannot create the {purpose}: {blocker} is a file, not a folder"
            ) from exc
        raise OutputError(f"{path}: cannot create the {purpose} ({exc.strerror})") from exc
    return path


def _file_in_the_way(path: Path) -> Path | None:
    """The first part of `path` (itself included) that exists and is not a folder."""
    for part in [*reversed(path.parents), path]:
        if part.exists() and not part.is_dir():
            return part
    return None


def names_folder(text: str) -> bool:
    """An output named with a trailing slash, or an existing folder, means "write inside it"."""
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def stream_descriptor(path: Path | str) -> int | None:
    """The file descriptor `path` stands for (`-` is stdout), or None for an ordinary path."""
    text = str(path)
    if text == STDOUT:
        return 1
    if text in _STREAM_PATHS:
        return _STREAM_PATHS[text]
    match = _FD_PATH.match(text)
    return int(match.group(1)) if match else None


def is_replaceable(path: Path) -> bool:
    """True when a write to `path` may rename a new file into place: nothing or a regular file is
    there (not a symlink, device, FIFO or stream)."""
    if stream_descriptor(path) is not None:
        return False
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat.S_ISREG(mode)


def _write_descriptor(descriptor: int, data: bytes, shown: str) -> None:
    try:
        if descriptor in (1, 2):  # through Python's streams: in order with what was printed
            stream = sys.stdout if descriptor == 1 else sys.stderr
            stream.flush()
            stream.buffer.write(data)
            stream.flush()
            return
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
    except OSError as exc:
        raise OutputError(f"{shown}: cannot write ({exc.strerror or exc})") from exc


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write_in_place(path: Path, data: bytes) -> None:
    # No O_TRUNC: a device or FIFO has nothing to truncate; a new file through a dangling link does not either.
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, 0o666)
    except IsADirectoryError as exc:
        raise OutputError(f"{path}: is a folder, expected a file") from exc
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        _write_descriptor(descriptor, data, str(path))
    finally:
        os.close(descriptor)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` by the rules in this module's docstring; errors are one OutputError."""
    descriptor = stream_descriptor(path)
    if descriptor is not None:
        _write_descriptor(descriptor, data, "stdout" if str(path) == STDOUT else str(path))
        return
    try:
        mode: int | None = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    if mode is None or stat.S_ISREG(mode):
        _replace(path, data)
    elif stat.S_ISDIR(mode):
        raise OutputError(f"{path}: is a folder, expected a file")
    elif stat.S_ISLNK(mode) and path.is_file():
        _replace(Path(os.path.realpath(path)), data)  # the target is replaced; the link stays
    else:
        _write_in_place(path, data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, document: Any) -> None:
    write_text(path, json.dumps(document, indent=2, sort_keys=False) + "\n")

"""SIGTERM, SIGKILL and failing stdout with real processes and real signals.

No test races a timer: each waits for a line the process writes before the work the signal must
interrupt, and that work cannot finish meanwhile because the process is blocked writing to a pipe
the test has stopped reading (its output is far larger than the pipe).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def digitcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "digitcli", *args]


def children(pid: int) -> set[int]:
    """The live processes whose parent is `pid`."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def picture_list(folder: Path, count: int) -> Path:
    """A file naming one small digit picture `count` times: `predict -` reads it from stdin."""
    pixels = np.full((64, 64), 255, dtype=np.uint8)
    pixels[10:54, 28:36] = 0  # a 1
    Image.fromarray(pixels).save(folder / "one.png")
    listing = folder / "list.txt"
    listing.write_text(f"{folder / 'one.png'}\n" * count)
    return listing


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """A failed test kills what it started instead of leaving it running."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


def start_predict(trained_run: Path, listing: Path, *options: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        # --quiet: predict's first line on stderr names the model; these tests watch the rest.
        digitcli("--quiet", "predict", "-", "--model", str(trained_run), *options),
        stdin=listing.open(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started.append(process)
    return process


def test_sigterm_stops_predict_and_its_workers_and_closes_the_json(
    trained_run: Path, tmp_path: Path
) -> None:
    # 3,000 records of ~400 bytes are ~1.2 MB: the process blocks on the pipe long before the end.
    process = start_predict(
        trained_run, picture_list(tmp_path, 3000), "--format", "json", "--jobs", "2"
    )
    assert process.stdout is not None and process.stderr is not None
    head = process.stdout.readline() + process.stdout.readline()  # "[" and the first record
    assert head.startswith("[\n{")
    workers = children(process.pid)
    assert len(workers) == 2
    process.send_signal(signal.SIGTERM)
    rest = process.stdout.read()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 143
    assert stderr == "error: terminated (SIGTERM)\n"
    records = json.loads(head + rest)  # the array is closed, no record is cut
    assert 1 <= len(records) < 3000
    assert {record["path"] for record in records} == {str(tmp_path / "one.png")}
    assert not [pid for pid in workers if alive(pid)]


def test_workers_die_with_a_killed_parent(trained_run: Path, tmp_path: Path) -> None:
    process = start_predict(
        trained_run, picture_list(tmp_path, 3000), "--format", "jsonl", "-j", "2"
    )
    assert process.stdout is not None
    process.stdout.readline()
    workers = children(process.pid)
    assert len(workers) == 2
    process.kill()  # SIGKILL: no handler runs; the kernel ends the workers (PR_SET_PDEATHSIG)
    process.wait(timeout=60)
    deadline = time.monotonic() + 60  # a bound, not a timing assertion: they go at once
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if alive(pid)]


def test_sigterm_during_training_keeps_a_checkpoint_and_exits_143(tmp_path: Path) -> None:
    # stderr is a one-page pipe this test stops reading at epoch 2: training then blocks on its
    # progress lines long before epoch 1000, so the signal always lands first.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    process = subprocess.Popen(
        digitcli("train", "--set", "data.limit=300", "--set", "train.epochs=1000"),
        stdout=subprocess.PIPE,
        stderr=write_end,
        text=True,
    )
    os.close(write_end)
    with os.fdopen(read_end) as stderr:
        for line in stderr:
            if line.startswith("epoch 2/"):
                break
        process.send_signal(signal.SIGTERM)
        rest = stderr.read()
    assert process.wait(timeout=120) == 143
    last = rest.strip().splitlines()[-1]
    assert last.startswith("error: training interrupted after epoch ")
    assert "checkpoint saved. Resume with: digitcli train --resume results/" in last
    assert "Traceback" not in rest
    assert (Path(last.rsplit(" ", 1)[-1]) / "checkpoint").is_dir()


@pytest.mark.parametrize(
    "args",
    [["config", "show"], ["--quiet", "predict", "PICTURE", "--format", "csv", "--model", "RUN"]],
    ids=["config show", "predict"],
)
def test_a_full_stdout_is_one_line_and_exit_1(
    args: list[str], trained_run: Path, tmp_path: Path
) -> None:
    picture_list(tmp_path, 1)
    args = [
        {"PICTURE": str(tmp_path / "one.png"), "RUN": str(trained_run)}.get(arg, arg)
        for arg in args
    ]
    with open("/dev/full", "w") as full:
        done = subprocess.run(digitcli(*args), stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1
    assert done.stderr == "error: cannot write to standard output (No space left on device)\n"


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["--version"]])
def test_help_into_a_closed_pipe_or_a_full_disk_ends_like_any_output(args: list[str]) -> None:
    # `digitcli --help | head -1`: the reader is gone before the help is written (closed here
    # first, so the write fails every time). Click alone would exit 1, or print a traceback for
    # a full disk.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        closed = subprocess.run(
            digitcli(*args), stdout=write_end, stderr=subprocess.PIPE, text=True, check=False
        )
    finally:
        os.close(write_end)
    assert (closed.returncode, closed.stderr) == (141, "")
    with open("/dev/full", "w") as full:
        done = subprocess.run(digitcli(*args), stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1
    assert done.stderr == "error: cannot write to standard output (No space left on device)\n"


def test_a_reader_that_goes_away_ends_predict_quietly_with_141(
    trained_run: Path, tmp_path: Path
) -> None:
    # One chunk of CSV rows (~200 kB) does not fit the pipe: predict is still writing when the
    # reader closes it after the header.
    process = start_predict(trained_run, picture_list(tmp_path, 3000), "--format", "csv")
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith("path,digit,")
    process.stdout.close()
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == ""

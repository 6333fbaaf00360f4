"""Writing user-named outputs: through links, devices and FIFOs, never replacing them (issue 15)."""

from __future__ import annotations

import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from digitcli.cli import app
from digitcli.errors import OutputError
from digitcli.output_files import is_replaceable, write_bytes, write_text


def leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.endswith(".tmp")]


def test_new_and_regular_files_are_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_text(target, "one\n")
    write_text(target, "two\n")
    assert target.read_text() == "two\n"
    assert leftovers(tmp_path) == []


def test_a_symlink_to_a_file_stays_a_link_and_its_target_is_written(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "created.json")
    write_text(dangling, "made\n")
    assert dangling.is_symlink() and (tmp_path / "created.json").read_text() == "made\n"


def test_devices_are_written_through_and_kept(tmp_path: Path) -> None:
    to_null = tmp_path / "null"
    to_null.symlink_to("/dev/null")
    write_text(to_null, "discarded\n")
    assert to_null.is_symlink()
    to_full = tmp_path / "full"
    to_full.symlink_to("/dev/full")
    with pytest.raises(OutputError, match=r"^.*full: cannot write \(No space left on device\)$"):
        write_text(to_full, "no room\n")
    assert to_full.is_symlink() and stat.S_ISCHR(os.stat(to_full).st_mode)
    assert not is_replaceable(to_null) and not is_replaceable(Path("/dev/null"))


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_bytes(fifo, b"through the pipe\n")
    reader.join(timeout=30)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a folder, expected a file"):
        write_text(tmp_path, "x")


def test_dash_is_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    print("before", flush=True)
    write_text(Path("-"), "document\n")
    assert capfd.readouterr().out == "before\ndocument\n"


def test_evaluate_output_through_a_link_to_a_full_device(runner, trained_run: Path) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(trained_run, Path("results") / trained_run.name)
    Path("full.json").symlink_to("/dev/full")
    result = runner.invoke(app, ["evaluate", "-o", "full.json"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: full.json: cannot write (No space left on device)"
    )
    assert Path("full.json").is_symlink()
    Path("real.json").write_text("")
    Path("link.json").symlink_to("real.json")
    assert runner.invoke(app, ["evaluate", "-o", "link.json"]).exit_code == 0
    assert Path("link.json").is_symlink() and '"accuracy"' in Path("real.json").read_text()

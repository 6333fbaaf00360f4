"""`digitcli runs list|show|compare|rm` and `train --name` on real tiny runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.runs import latest_run

REPO = Path(__file__).resolve().parents[1]
TINY = ["train.epochs=3", "data.limit=400"]


def _sets(*overrides: str) -> list[str]:
    return [arg for override in overrides for arg in ("--set", override)]


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with three real runs, oldest first: `base` (configs/default.yaml, shortened),
    `wide` (wider first layer, larger learning rate), and base retrained from its saved config.
    Read-only: tests that delete copy it first."""
    root = tmp_path_factory.mktemp("catalog") / "results"
    runner = CliRunner()
    default = str(REPO / "configs" / "default.yaml")
    for args in (
        ["--config", default, "--name", "base", *_sets(*TINY, f"output.dir={root}")],
        [
            "--config",
            default,
            "--name",
            "wide",
            *_sets(*TINY, f"output.dir={root}", "model.layers.0.units=40"),
            *_sets("train.learning_rate=0.003"),
        ],
        ["--config", str(root / "base" / "config.yaml")],
    ):
        result = runner.invoke(app, ["--quiet", "train", *args])
        assert result.exit_code == 0, result.output
    return root


def _rerun(root: Path) -> Path:
    return next(path for path in root.iterdir() if path.name.endswith("-base-" + path.name[-6:]))


def _same_settings(root: Path) -> int:
    """How many flattened config keys `base` and `wide` share: all but the two they differ in."""
    from digitcli.run_catalog import flatten

    return len(flatten(yaml.safe_load((root / "base" / "config.yaml").read_text()))) - 2


def _metrics(run: Path) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = json.loads((run / "metrics.json").read_text())
    return metrics


def test_a_run_trained_from_a_saved_config_is_named_after_its_source(catalog: Path) -> None:
    rerun = _rerun(catalog)
    assert re.fullmatch(r"\d{8}-\d{6}-base-[0-9a-f]{6}", rerun.name)
    meta = json.loads((rerun / "run.json").read_text())
    assert meta["label"] == "base" and meta["source_run"] == "base"
    assert json.loads((catalog / "base" / "run.json").read_text())["label"] == "base"
    assert _metrics(rerun) == _metrics(catalog / "base")  # the saved config reproduces the run


def test_list_plain_newest_first(runner: CliRunner, catalog: Path) -> None:
    result = runner.invoke(app, ["runs", "list", str(catalog)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "name", "created", "data", "model", "epochs", "test_acc", "wall_s",
    ]  # fmt: skip
    rows = [line.split() for line in lines[1:]]
    rerun = _rerun(catalog).name
    assert [row[0] for row in rows] == [rerun, "wide", "base"]
    for row in rows:
        meta = json.loads((catalog / row[0] / "run.json").read_text())
        assert row[1] == meta["created"][:19]
        assert row[2:5] == [
            "digits",
            "400-40-15-10" if row[0] == "wide" else "400-25-15-10",
            "3",
        ]
        assert row[5] == f"{_metrics(catalog / row[0])['test']['accuracy']:.4f}"
        assert row[6] == f"{meta['wall_seconds']:.1f}"
        assert row[7:] == (["latest"] if row[0] == rerun else [])


def test_list_json_and_empty(runner: CliRunner, catalog: Path) -> None:
    result = runner.invoke(app, ["runs", "list", str(catalog), "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [entry["name"] for entry in document][1:] == ["wide", "base"]
    wide = document[1]
    assert wide["model"] == "400-40-15-10" and wide["epochs"] == 3 and wide["latest"] is False
    assert wide["test_accuracy"] == _metrics(catalog / "wide")["test"]["accuracy"]
    assert wide["problems"] == []

    empty = runner.invoke(app, ["runs", "list"])
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert empty.stderr == "no runs in results (train one: digitcli train)\n"
    assert json.loads(runner.invoke(app, ["runs", "list", "--json"]).stdout) == []


def test_list_table_on_a_terminal(
    runner: CliRunner, catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("digitcli.cli.runs_cmd.stdout_is_terminal", lambda: True)
    result = runner.invoke(app, ["runs", "list", str(catalog)])
    assert result.exit_code == 0, result.stderr
    assert f"Runs in {catalog} (3, newest first)" in result.stdout
    assert "│ wide " in result.stdout and "test acc" in result.stdout


def test_show_plain(runner: CliRunner, catalog: Path) -> None:
    rerun = _rerun(catalog)
    result = runner.invoke(app, ["runs", "show", rerun.name[-6:], "--root", str(catalog)])
    assert result.exit_code == 0, result.stderr
    sizes = json.loads((rerun / "run.json").read_text())["data"]["sizes"]
    card = result.stdout.split("\n\n")[0].splitlines()
    assert [line for line in card if not line.startswith(("created:", "best", "wall"))] == [
        f"name: {rerun.name}",
        f"path: {rerun}",
        "latest: yes",
        f"data: digits (train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']})",
        "model: 400-25-15-10",
        "engine: fast",
        "seed: 1234",
        "epochs: 3",
        "trained from: the config of run base",
    ]
    test = _metrics(rerun)["test"]
    assert (
        f"test        {test['loss']:.4f}  {test['accuracy']:.4f}    "
        f"{test['errors']} errors out of {test['total']}"
    ) in result.stdout.splitlines()
    assert "config:\n  seed: 1234\n  data:\n    source: digits\n" in result.stdout


def test_show_json(runner: CliRunner, catalog: Path) -> None:
    result = runner.invoke(app, ["runs", "show", str(catalog / "wide"), "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["name"] == "wide"
    assert document["config"]["train"]["learning_rate"] == 0.003
    assert document["metrics"] == _metrics(catalog / "wide")
    assert 1 <= document["best_epoch"]["epoch"] <= 3


def test_compare_plain_shows_only_the_settings_that_differ(
    runner: CliRunner, catalog: Path
) -> None:
    result = runner.invoke(app, ["runs", "compare", "base", "wide", "--root", str(catalog)])
    assert result.exit_code == 0, result.stderr
    settings, metrics = result.stdout.split("\n\n")
    assert settings == (
        f"settings that differ: 2 ({_same_settings(catalog)} other settings are the same in every run)\n"
        "setting               base   wide\n"
        "model.layers.0.units  25     40\n"
        "train.learning_rate   0.001  0.003"
    )
    base, wide = _metrics(catalog / "base")["test"], _metrics(catalog / "wide")["test"]
    lines = metrics.splitlines()
    assert lines[0] == "metrics (diff: the run to its left minus the first run)"
    assert lines[1].split() == ["metric", "base", "wide", "diff"]
    assert lines[2].split() == [
        "test.accuracy",
        f"{base['accuracy']:.4f}",
        f"{wide['accuracy']:.4f}",
        f"{wide['accuracy'] - base['accuracy']:+.4f}",
    ]
    errors = int(wide["errors"] - base["errors"])
    assert lines[4].split() == [
        "test.errors",
        str(base["errors"]),
        str(wide["errors"]),
        f"{errors:+d}",
    ]


def test_compare_markdown(runner: CliRunner, catalog: Path) -> None:
    result = runner.invoke(
        app, ["runs", "compare", "base", "wide", "--root", str(catalog), "--markdown"]
    )
    assert result.exit_code == 0, result.stderr
    base, wide = _metrics(catalog / "base"), _metrics(catalog / "wide")
    lines = result.stdout.splitlines()
    assert lines[:10] == [
        "**Runs:** `base`, `wide`",
        "",
        f"**Settings that differ: 2 ({_same_settings(catalog)} other settings are the same in every run)**",
        "",
        "| setting | base | wide |",
        "| --- | --- | --- |",
        "| `model.layers.0.units` | 25 | 40 |",
        "| `train.learning_rate` | 0.001 | 0.003 |",
        "",
        "**Metrics** (diff: the run to its left minus the first run)",
    ]
    assert lines[11:13] == ["| metric | base | wide | diff |", "| --- | ---: | ---: | ---: |"]
    one, other = base["validation"]["loss"], wide["validation"]["loss"]
    assert f"| validation.loss | {one:.4f} | {other:.4f} | {other - one:+.4f} |" in lines
    assert lines[-1].startswith("| wall_seconds | ")


def test_compare_json_three_runs(runner: CliRunner, catalog: Path) -> None:
    rerun = _rerun(catalog).name
    result = runner.invoke(
        app, ["runs", "compare", "base", "wide", rerun, "--root", str(catalog), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["runs"] == ["base", "wide", rerun]
    assert {"key": "train.learning_rate", "values": [0.001, 0.003, 0.001]} in document["settings"]
    accuracy = next(row for row in document["metrics"] if row["key"] == "test.accuracy")
    values = [_metrics(catalog / name)["test"]["accuracy"] for name in document["runs"]]
    assert accuracy["values"] == values
    assert accuracy["differences"] == [0.0, values[1] - values[0], 0.0]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["compare", "base"], 2, "error: compare needs two or more different runs\n"),
        (["compare", "base", "base"], 2, "error: compare needs two or more different runs\n"),
        (
            ["show", "nope"],
            1,
            "error: nope: no such run in {root} (digitcli runs list shows them)\n",
        ),
        (
            ["compare", "base", "wide", "--json", "--markdown"],
            2,
            "error: choose one of --json and --markdown\n",
        ),
    ],
)
def test_runs_errors(
    runner: CliRunner, catalog: Path, args: list[str], code: int, message: str
) -> None:
    result = runner.invoke(app, ["runs", *args, "--root", str(catalog)])
    assert (result.exit_code, result.stderr) == (code, message.format(root=catalog))
    assert result.stdout == ""


def test_an_ambiguous_part_of_a_name_is_refused(
    runner: CliRunner, tmp_path: Path, catalog: Path
) -> None:
    root = tmp_path / "results"
    shutil.copytree(catalog, root)
    shutil.copytree(root / "wide", root / "wider")
    result = runner.invoke(app, ["runs", "show", "wid", "--root", str(root)])
    assert result.exit_code == 2
    assert result.stderr == f"error: wid: matches 2 runs in {root} (wide, wider); say more\n"


def test_rm_asks_and_keeps_latest(runner: CliRunner, tmp_path: Path, catalog: Path) -> None:
    root = tmp_path / "results"
    shutil.copytree(catalog, root)
    rerun = _rerun(root)

    declined = runner.invoke(app, ["runs", "rm", "base", "-r", str(root)], input="n\n")
    assert declined.exit_code == 0
    assert declined.stderr == "delete 1 run (base)? [y/N] nothing deleted\n"
    assert (root / "base").is_dir()

    no_answer = runner.invoke(app, ["runs", "rm", "base", "-r", str(root)], input="")
    assert no_answer.exit_code == 2
    assert no_answer.stderr.endswith(
        "error: no answer on stdin; pass --yes to delete without asking (nothing deleted)\n"
    )

    refused = runner.invoke(app, ["runs", "rm", "base", "latest", "-r", str(root), "--yes"])
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: {rerun}: is the latest run ({root}/latest names it); pass --force to delete it "
        "anyway (nothing deleted)\n"
    )
    assert (root / "base").is_dir() and rerun.is_dir()

    deleted = runner.invoke(app, ["runs", "rm", "base", "wide", "-r", str(root)], input="y\n")
    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.stdout == f"{root / 'base'}\n{root / 'wide'}\n"
    assert deleted.stderr == (
        f"delete 2 runs (base, wide)? [y/N] deleted 2 runs; latest is now {rerun.name}\n"
    )
    assert sorted(path.name for path in root.iterdir()) == sorted(["latest", rerun.name])


def test_rm_force_deletes_latest_and_moves_the_pointer(
    runner: CliRunner, tmp_path: Path, catalog: Path
) -> None:
    root = tmp_path / "results"
    shutil.copytree(catalog, root)
    result = runner.invoke(app, ["runs", "rm", "latest", "-r", str(root), "--yes", "--force"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "deleted 1 run; latest is now wide\n"
    assert (root / "latest").read_text() == "wide\n"
    assert latest_run(root) == root / "wide"

    everything = runner.invoke(
        app, ["runs", "rm", "wide", "base", "-r", str(root), "-y", "--force"]
    )
    assert everything.exit_code == 0, everything.stderr
    assert not (root / "latest").exists() and list(root.iterdir()) == []


def test_train_name_must_be_free_and_plain(runner: CliRunner) -> None:
    first = runner.invoke(app, ["--quiet", "train", "--name", "mine", *_sets(*TINY)])
    assert first.exit_code == 0, first.stderr
    assert first.stdout == "results/mine\n"
    again = runner.invoke(app, ["train", "--name", "mine"])
    assert again.exit_code == 2
    assert again.stderr == (
        "error: results/mine: a run with this name exists; choose another --name "
        "(or delete it: digitcli runs rm mine)\n"
    )
    bad = runner.invoke(app, ["train", "--name", "../x"])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --name '../x': use up to 100 letters, digits")
    assert sorted(path.name for path in Path("results").iterdir()) == ["latest", "mine"]

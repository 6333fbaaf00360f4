"""`digitcli config show | validate | reference`: inspect and check configs without training.

None of these commands imports TensorFlow: they only load and validate YAML with the config models.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from digitcli.cli._common import ConfigOption, SetOption, handle_errors
from digitcli.errors import ExitCode

# Rich renders help text: a paragraph is one line (hence the trailing backslashes) and "[" starts
# markup unless escaped.
CONFIG_HELP = """Show, check and document run configs (no training, no TensorFlow).

Examples:

  digitcli config show > my.yaml                # every setting, resolved: edit it

  digitcli train --config my.yaml

  digitcli config validate configs/*.yaml       # exit 2 if any is invalid

  digitcli config reference                     # every key, type and default
"""

SHOW_HELP = """Print the fully resolved config as YAML on stdout.

Every setting appears, defaults included, after the file (--config) and the --set overrides are \
applied: a starting point to redirect into a file and edit. Training with the output \
(digitcli train --config FILE) trains exactly the same recipe.

Examples:

  digitcli config show > my.yaml

  digitcli config show --config configs/mnist.yaml --set train.epochs=5
"""

VALIDATE_HELP = """Check config files the way train would, without training.

Prints "ok: FILE" on stdout for each valid file and one "error:" line on stderr for each invalid \
one (the message train would give). Checks every file, then exits 2 if any was invalid. \
With --data it also checks that the data files each config names exist and can be read (from \
the current folder, as train reads them); without it no file but the config is opened.

Examples:

  digitcli config validate my.yaml

  digitcli config validate --data configs/lab.yaml

  digitcli config validate configs/*.yaml
"""

REFERENCE_HELP = """Print the config reference (Markdown): every key, its type, default and meaning.

Generated from the config models; docs/config-reference.md holds the same text.

Examples:

  digitcli config reference

  digitcli config reference > docs/config-reference.md
"""

config_app = typer.Typer(
    help=CONFIG_HELP,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def header(config: Path | None, overrides: list[str] | None) -> str:
    """The comment line(s) heading `config show`: where the values came from, how to use them."""
    source = f"{config}" if config is not None else "the built-in defaults"
    if overrides:
        source += " with --set " + " --set ".join(overrides)
    source = " ".join(source.split())  # a newline in a value must not end the comment
    return (
        f"# digitcli config, every setting resolved from {source}.\n"
        "# Edit, then: digitcli train --config FILE (keys: digitcli config reference)\n"
    )


@config_app.command("show", help=SHOW_HELP)
@handle_errors
def show_command(config: ConfigOption = None, overrides: SetOption = None) -> None:
    from digitcli.config import config_to_yaml, load_config

    resolved = load_config(config, overrides)
    sys.stdout.write(header(config, overrides) + config_to_yaml(resolved))


@config_app.command("validate", help=VALIDATE_HELP)
@handle_errors
def validate_command(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE", help="YAML config files to check.", show_default=False),
    ],
    check_data: Annotated[
        bool,
        typer.Option("--data", help="Also check that the data files the config names can be read."),
    ] = False,
) -> None:
    from digitcli.config import load_config
    from digitcli.data_check import data_problems
    from digitcli.errors import ConfigError

    failed = 0
    for path in files:
        try:
            loaded = load_config(path)
        except ConfigError as exc:
            failed += 1
            print(f"error: {exc.message}", file=sys.stderr, flush=True)
            continue
        problems = data_problems(loaded.data) if check_data else []
        for problem in problems:
            print(f"error: {path}: {problem}", file=sys.stderr, flush=True)
        if problems:
            failed += 1
        else:
            print(f"ok: {path}", flush=True)
    if failed:
        raise typer.Exit(int(ExitCode.USAGE))


@config_app.command("reference", help=REFERENCE_HELP)
@handle_errors
def reference_command() -> None:
    from digitcli.config_reference import render_reference

    sys.stdout.write(render_reference())


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")

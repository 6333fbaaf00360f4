"""`python -m digitcli` runs the CLI."""

from digitcli.cli import main

main()

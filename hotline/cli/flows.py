"""`flask flows check`: validate every flow file and every hotline's binding to one."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from hotline.extensions import runtime
from hotline.flows.loader import check_all


@click.group("flows")
def flows_group() -> None:
    """Work with the call flows in ivr_flows/."""


@flows_group.command("check")
@with_appcontext
def check_command() -> None:
    """Validate every flow; exit non-zero naming the file and step of each problem."""
    settings = runtime.get().settings
    errors = check_all(Path(settings.flows_dir), settings.hotlines)
    for error in errors:
        click.echo(error, err=True)
    if errors:
        sys.exit(1)
    names = ", ".join(sorted(p.name for p in Path(settings.flows_dir).glob("*.yaml")))
    click.echo(f"flows OK: {names}")

"""`flask reports ...`: export reports."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from hotline.extensions import db
from hotline.reports.export import iter_reports


@click.group("reports")
def reports_group() -> None:
    """Work with reports."""


@reports_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]), default="json")
@with_appcontext
def export_command(fmt: str) -> None:
    """Print every report (no caller identity, no audio, no PINs)."""
    reports = iter_reports(db.session)
    if fmt == "jsonl":
        for item in reports:
            click.echo(json.dumps(item, ensure_ascii=False))
        return
    click.echo(json.dumps(list(reports), indent=2, ensure_ascii=False))

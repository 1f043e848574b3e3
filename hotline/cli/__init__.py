"""Flask CLI commands: `flask --app app <group> <command>`."""

from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    from hotline.cli.database import db_group
    from hotline.cli.flows import flows_group
    from hotline.cli.keys import keys_group
    from hotline.cli.reports import reports_group
    from hotline.cli.simulate import simulate_command
    from hotline.cli.storage import storage_group
    from hotline.cli.worker import worker_command

    for command in (db_group, flows_group, keys_group, reports_group, worker_command, simulate_command, storage_group):
        app.cli.add_command(command)

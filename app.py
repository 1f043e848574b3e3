"""Entry point: `flask --app app ...` and `gunicorn app:app`."""

from hotline import create_app

app = create_app()

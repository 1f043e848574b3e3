"""Entry point: `flask --app app ...` and `gunicorn app:app`."""

import sys

from hotline import create_app
from hotline.flows.loader import FlowError
from hotline.settings import SettingsError

try:
    app = create_app()
except (SettingsError, FlowError) as exc:
    # A configuration or flow mistake is the operator's to fix: say what it is, one line per
    # problem, and stop (gunicorn, the worker and `flask ...` alike) without a traceback.
    print(f"hotline cannot start: {exc}", file=sys.stderr)
    raise SystemExit(1) from None

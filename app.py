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
    # In a gunicorn worker, 4 is "the app failed to load": gunicorn then stops instead of
    # starting worker after worker on a configuration that cannot work (any other code would).
    raise SystemExit(4 if "gunicorn.arbiter" in sys.modules else 1) from None

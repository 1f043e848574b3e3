"""Background jobs: what each job is (declarations), how a run keeps its work to itself
(locks), and the recovery pass the sweep and `flask reports recover` share (recover).

The job functions themselves are the thin entry points in `workers/`; nothing here imports
them, so `hotline` never depends on `workers`.
"""

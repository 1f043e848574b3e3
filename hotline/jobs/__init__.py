"""Background jobs: what each job is (declarations) and how a run keeps its work to itself (locks).

The job functions themselves are the thin entry points in `workers/`; nothing here imports
them, so `hotline` never depends on `workers`.
"""

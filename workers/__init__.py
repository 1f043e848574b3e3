"""RQ jobs: the report pipeline."""

"""The S3 fixtures (a session's SeaweedFS), for attacks on issue 11's storage and probes."""

from tests.storage.conftest import raw_s3, s3_env, s3_prefix, seaweed  # noqa: F401 - fixtures

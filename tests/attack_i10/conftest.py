"""The web tip fixtures, for attacks on issue 10's pages."""

from tests.tipweb.conftest import tapp, tipster  # noqa: F401 - fixtures

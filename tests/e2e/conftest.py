"""Fixtures shared by the end-to-end tests: the browser and the app on a port (pages), and
a private PostgreSQL server (faults, the read replica)."""

from tests.e2e.test_command_page import browser, server  # noqa: F401
from tests.e2e.test_faults import cluster  # noqa: F401

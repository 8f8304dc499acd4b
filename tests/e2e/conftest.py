"""The browser and the app-on-a-port fixtures, shared by every page's browser tests."""

from tests.e2e.test_command_page import browser, server  # noqa: F401

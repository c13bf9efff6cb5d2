"""Root conftest: loads the xch pytest plugin for the suites under suites/ (and is harmless for tests/)."""

pytest_plugins = ["harness.plugin"]

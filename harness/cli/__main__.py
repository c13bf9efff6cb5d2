"""`python -m harness.cli ...` runs the CLI (the tests run it this way, as a user's shell would)."""

import sys

from harness.cli import main

sys.exit(main())

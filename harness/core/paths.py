"""Where the project's folders are: targets/, products/, results/, whitelist/, reports/.

Library code (the runner, certify, the whitelist) needs the project folder as much as the CLI does,
so it lives here rather than in the CLI package.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_dir() -> Path:
    """The project folder (targets/, results/, products/...): $XCH_PROJECT_DIR or the current one."""
    return Path(os.environ.get("XCH_PROJECT_DIR", ".")).resolve()

"""Location of the Dagster instance directory (DAGSTER_HOME) used by the command line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_HOME = ".dagster_home"

# The repository's dagster.yaml, present when the package runs from a source checkout.
_REPO_INSTANCE_CONFIG = Path(__file__).resolve().parent.parent / "dagster.yaml"

# Used only when the package is installed without the repository beside it; keep it in step
# with the repository's dagster.yaml.
_FALLBACK_INSTANCE_CONFIG = """\
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


def resolve_dagster_home() -> Path:
    """Return $DAGSTER_HOME, else ./.dagster_home, creating it with a dagster.yaml if needed.

    Sets DAGSTER_HOME in this process's environment, so Dagster and its child processes use the
    same directory.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        if _REPO_INSTANCE_CONFIG.is_file():
            shutil.copyfile(_REPO_INSTANCE_CONFIG, config)
        else:
            config.write_text(_FALLBACK_INSTANCE_CONFIG)
    os.environ["DAGSTER_HOME"] = str(home)
    return home

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


class DagsterHomeError(Exception):
    """The Dagster instance directory cannot be created or written; the message names it."""


def resolve_dagster_home() -> Path:
    """Return $DAGSTER_HOME, else ./.dagster_home, creating it with a dagster.yaml if needed.

    Sets DAGSTER_HOME in this process's environment, so Dagster and its child processes use the
    same directory. A blank DAGSTER_HOME counts as unset.

    Raises:
        DagsterHomeError: The directory or its dagster.yaml cannot be created, for example
            because the path is a file.
    """
    home = Path(os.environ.get("DAGSTER_HOME", "").strip() or DEFAULT_HOME).expanduser().resolve()
    config = home / "dagster.yaml"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if not config.exists():
            if _REPO_INSTANCE_CONFIG.is_file():
                shutil.copyfile(_REPO_INSTANCE_CONFIG, config)
            else:
                config.write_text(_FALLBACK_INSTANCE_CONFIG)
    except OSError as error:
        # mkdir reports a file in the way as "File exists", which hides the actual problem.
        reason = "a file, not a directory" if home.is_file() else error.strerror
        raise DagsterHomeError(
            f"Invalid DAGSTER_HOME {home}: {reason}. Set DAGSTER_HOME to a directory you can "
            "write, or unset it to use ./.dagster_home."
        ) from error
    os.environ["DAGSTER_HOME"] = str(home)
    return home

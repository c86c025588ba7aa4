"""Run the emulator with `python -m vultr_pipeline.emulator`."""

import sys

from vultr_pipeline.emulator.cli import main

sys.exit(main())

"""``python -m deployready``."""

import sys

from deployready.cli import main

sys.exit(main())

"""``python -m pytest_cerebras_perf.history``: see :mod:`pytest_cerebras_perf.history.cli`."""

import sys

from .cli import main

sys.exit(main())

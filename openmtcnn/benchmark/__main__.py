"""``python -m openmtcnn.benchmark``: the speed benchmark (also the worker processes' entry)."""

import sys

from . import main

sys.exit(main())

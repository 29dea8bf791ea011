"""The speed benchmark from a source checkout: the same as `openmtcnn benchmark` (openmtcnn/benchmark/)."""

import sys

from openmtcnn.benchmark import main

if __name__ == "__main__":
    sys.exit(main())

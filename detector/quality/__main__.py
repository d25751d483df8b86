"""`python -m detector.quality`."""

import sys

from .cli import main

sys.exit(main())

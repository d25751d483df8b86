"""`python -m service.cli ...` = `crosswatch ...`."""

import sys

from . import main

if __name__ == "__main__":  # not when a spawned worker process imports the main module
    sys.exit(main())

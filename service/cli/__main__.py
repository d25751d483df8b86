"""`python -m service.cli ...` = `crosswatch ...`."""
import sys

from . import main

sys.exit(main())

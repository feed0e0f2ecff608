"""``python -m smartmine`` runs the command line."""

import sys

from smartmine.cli import main

sys.exit(main())

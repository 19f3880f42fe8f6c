"""Entry point: ``python -m migrate_legacy`` (see :mod:`migrate_legacy.cli`)."""

import sys

from migrate_legacy.cli import main

if __name__ == "__main__":
    sys.exit(main())

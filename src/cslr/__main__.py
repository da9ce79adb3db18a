"""``python -m cslr``: the same as the ``cslr`` command."""

import sys

from cslr.cli import main

sys.exit(main())

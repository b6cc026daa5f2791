"""`python -m relstream.cli`: the same as the `relstream` command."""

import sys

from relstream.cli import main

sys.exit(main())

"""`python -m inputpipe ...`: the same command line as the `inputpipe` script (cli.py)."""

import sys

from inputpipe.cli import main

sys.exit(main())

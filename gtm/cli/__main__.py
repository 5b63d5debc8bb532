"""`python -m gtm.cli` runs the gtm command."""
import sys

from gtm.cli import main

sys.exit(main())

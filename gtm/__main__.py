"""`python -m gtm` runs the gtm command."""
import sys

from gtm.cli import main

sys.exit(main())

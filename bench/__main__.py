"""``python -m bench``: dnsperf against gdnsd and gtm in the same run, with the project's own harness
(``bench/harness.py``; ``python -m bench --help`` says what it does and takes)."""
from __future__ import annotations

import sys

from bench.harness import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

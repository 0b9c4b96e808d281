"""`python -m bench` from the repository root: every benchmark, as `python bench/run.py` runs them."""

import sys
from pathlib import Path

# The scripts import their neighbours by plain name (`from machine import ...`), as when run directly.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import main

main()

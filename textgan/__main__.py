"""``python -m textgan ...``: the same as the ``textgan`` console script (torchrun needs ``-m textgan``)."""

import sys

from textgan.cli import main

if __name__ == "__main__":
    sys.exit(main())

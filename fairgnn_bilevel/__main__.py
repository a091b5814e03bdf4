"""``python -m fairgnn_bilevel``: the command line, also as ``torchrun ... -m fairgnn_bilevel``."""
import sys

from .cli import main

sys.exit(main())

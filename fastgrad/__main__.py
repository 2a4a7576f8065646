"""``python -m fastgrad train|bench ...``: the same as the ``fastgrad`` script."""

import sys

from .cli import main

sys.exit(main())

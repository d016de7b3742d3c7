"""``python -m automation``: see :mod:`automation.cli`."""

from automation.cli import main

raise SystemExit(main())

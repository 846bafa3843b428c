"""``python -m dkl_zoo`` is the ``dkl-zoo`` command."""

from .cli import main

raise SystemExit(main())

"""``python -m coview`` runs the command line."""

from coview.cli.main import main

raise SystemExit(main())

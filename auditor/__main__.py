"""`python -m auditor` runs the command line."""

from auditor._cli import main

raise SystemExit(main())

"""`python -m auditor` runs the command line."""

from auditor._cli import run

run()

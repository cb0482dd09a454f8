"""Allow ``python -m sitegen``."""

from sitegen.cli import command

command()

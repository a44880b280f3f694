"""Exceptions raised for input that a user can fix.

The command line turns an :class:`AiopsError` into one line on stderr and a
non-zero exit status, so its message must stand on its own: what was expected,
what arrived, and how to fix it.
"""


class AiopsError(Exception):
    """Bad user input or environment: a one-line, actionable message."""


class ConfigError(AiopsError):
    """A configuration file, scenario or option holds a value that is not allowed."""


class DataError(AiopsError):
    """An input dataset is missing, malformed or does not match what is expected."""

"""The one exception type users see: the CLI prints its message as a single line and exits non-zero."""


class DepthbenchError(Exception):
    """Bad input or a missing resource; the message says what was wrong and what to do."""

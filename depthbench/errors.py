"""The one exception type users see: the CLI prints its message as a single line and exits non-zero."""


class DepthbenchError(Exception):
    """Bad input or a missing resource; the message says what was wrong and what to do."""


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first sentence of an exception's message (numpy, PIL and torch write paragraphs), else its type name."""
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0][:limit] if text else type(exc).__name__

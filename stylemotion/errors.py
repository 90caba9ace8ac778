"""The one exception type for user mistakes.

Library code raises :class:`UserError` with a one-line message that names the file, key or
value and what is allowed; the CLI prints it as ``error: <message>`` and exits non-zero,
never with a traceback.
"""


class UserError(Exception):
    """A mistake in what the user gave us (a path, a value, a preset). Message is one line."""


class Diverged(UserError):
    """The optimization went non-finite or exploded, even after retrying with smaller steps."""

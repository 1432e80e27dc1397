"""Errors that reach the user as one line: what is wrong and how to fix it."""


class NrepError(Exception):
    """A problem with the input or the environment, not a bug; the message is shown as is."""

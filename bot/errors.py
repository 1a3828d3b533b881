"""Errors that mean "bad input": the CLI prints the message as one line and exits 2."""


class InputError(ValueError):
    """Unusable input; the message is one line naming the file and, where known, row and column."""

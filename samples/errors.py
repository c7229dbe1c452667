"""Errors raised for problems with the user's input rather than with the tool."""


class InputError(ValueError):
    """An input file, sample name or option the analysis cannot use.

    The message names the value at fault and what to do about it, so the
    command-line driver prints it as it is, without a traceback.
    """

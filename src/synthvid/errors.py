"""Errors a user can act on. The CLI prints ``str(error)`` as one line and exits non-zero; anything else is a bug."""


class SynthvidError(Exception):
    """Base class: a problem with the user's input, files or settings, explained in one sentence."""

    exit_code = 2


class InputError(SynthvidError):
    """An input file or array is missing, unreadable, of the wrong kind or out of range."""


class NoFaceError(InputError):
    """No usable face was found where one is needed."""

    exit_code = 3


class AmbiguousFaceError(InputError):
    """Several people are present and nothing says which one is wanted."""

    exit_code = 3


class CheckpointError(SynthvidError):
    """A checkpoint or model folder is missing, corrupt, foreign or does not fit the request."""

    exit_code = 4


class OutputError(SynthvidError):
    """The output cannot be written where asked (missing folder, not writable, ...)."""

    exit_code = 5

"""The errors digitcli shows to users, and the exit code each one ends the process with.

Every expected failure is raised as a `DigitcliError` subclass whose message is one line written for a
person: it names the file, key or input at fault and, where it helps, what to do. The CLI prints
`error: <message>` on stderr and exits with the class's code; anything else is a bug (exit 70).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (see README, "Exit codes")."""

    OK = 0
    RUNTIME = 1  # bad data, unreadable model, unwritable folder, ...
    USAGE = 2  # bad command line or config (click uses 2 for usage errors too)
    PARTIAL = 3  # predict: some inputs could not be read; the others were predicted
    QUALITY_GATE = 4  # evaluate --min-accuracy: accuracy below the threshold
    UNSURE = 5  # predict --fail-on-unsure: some answers are unsure or found no digit
    INTERNAL = 70  # an unexpected exception: a bug (EX_SOFTWARE); rerun with --debug
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    STDOUT_CLOSED = 141  # stdout's reader went away (128 + SIGPIPE, as Unix tools end)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM), e.g. `kill`, a CI timeout, `docker stop`


class DigitcliError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code: ExitCode = ExitCode.RUNTIME

    def __init__(self, message: str) -> None:
        # Keep messages on one line so they stay greppable in CI logs.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(DigitcliError):
    """A config file or `--set` override is malformed or names impossible values."""

    exit_code = ExitCode.USAGE


class UsageError(DigitcliError):
    """The command line asks for something that cannot be done (bad combination of options)."""

    exit_code = ExitCode.USAGE


class DataError(DigitcliError):
    """A dataset is missing, unreadable, or holds values digitcli cannot train or evaluate on."""


class ImageError(DigitcliError):
    """One input image cannot be read or holds no digit."""


class NoDigitError(ImageError):
    """The image was read but holds no digit (blank, a speck, a scene). Its message starts with one
    of NO_DIGIT_PREFIXES, which is how a prediction record tells it from an unreadable file."""


NO_DIGIT_PREFIXES = ("no ink found", "no digit found")


class NoInkError(NoDigitError):
    """The image is blank: there is no ink to read as a digit."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than allowed (the server answers 413, not 422)."""


class ModelError(DigitcliError):
    """A model file or run directory is missing, truncated, or does not fit the data."""


class RunNotFoundError(ModelError):
    """No run directory where one was expected."""


class OutputError(DigitcliError):
    """Results cannot be written where they were asked to go."""


class ExportError(DigitcliError):
    """An export could not be produced or did not reproduce the Keras model's outputs."""


class QualityGateError(DigitcliError):
    """`evaluate --min-accuracy` found the accuracy below the threshold."""

    exit_code = ExitCode.QUALITY_GATE


class UnsureError(DigitcliError):
    """`predict --fail-on-unsure` found answers below --min-confidence, or pictures with no digit."""

    exit_code = ExitCode.UNSURE


class PartialFailureError(DigitcliError):
    """Some inputs failed while the others were processed (predict)."""

    exit_code = ExitCode.PARTIAL


class TrainingFailed(DigitcliError):
    """Training ran but gave no usable model: the loss diverged, or it ended no better than chance."""


class ResourceExhausted(DigitcliError):
    """The machine ran out of memory building or training the model."""


class TrainingInterrupted(DigitcliError):
    """Training was stopped by Ctrl-C or SIGTERM after saving a checkpoint."""

    exit_code = ExitCode.INTERRUPTED

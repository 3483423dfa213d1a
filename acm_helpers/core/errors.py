"""One error hierarchy. Every message says what went wrong, where, and what to do next."""

from __future__ import annotations


class AcmError(Exception):
    """Base class of every error the workbench raises on purpose.

    Notebook widgets and the CLI catch this class only and show its message; anything else is
    a bug and keeps its traceback.
    """


class ConfigError(AcmError):
    """The program file or a run file is invalid (unknown key, bad date, unknown id)."""


class UnknownIdError(ConfigError):
    """A provider, metric, dimension or period that the program does not define."""

    def __init__(self, kind: str, value: object, known: list[str] | tuple[str, ...]):
        self.kind, self.value, self.known = kind, value, list(known)
        shown = ", ".join(map(str, self.known)) or "(none defined)"
        super().__init__(f"Unknown {kind} {value!r}. Known {kind}s: {shown}.")


class IntakeError(AcmError):
    """A submission cannot be read or loaded at all (as opposed to single bad rows)."""


class StoreError(AcmError):
    """The data store is missing, locked or inconsistent."""


class MetricError(AcmError):
    """A metric definition cannot be evaluated."""


class PrivacyError(AcmError):
    """A provider-facing output would disclose something it must not."""


class RunError(AcmError):
    """A batch run could not produce one or more packets."""


class HmisError(IntakeError):
    """An HMIS CSV export cannot be read or mapped."""


class ActionError(AcmError):
    """A meeting or action item cannot be recorded (unknown provider, metric or item, bad file)."""

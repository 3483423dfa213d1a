"""One error hierarchy. Every message says what went wrong, where, and what to do next."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


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


class MemoryLimitError(StoreError):
    """A stage would need more memory than its limit (``ACM_MEMORY_LIMIT``) allows.

    Its message names the stage, the memory it needs, the limit and where the limit comes
    from, and what to do (raise the limit, a larger machine, fewer months or providers per run).
    """


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


class DeliveryError(AcmError):
    """Packets cannot be emailed: no manifest, no mail settings or login, the server refuses."""


class NotebookFailed(RunError):
    """A cell of a packet notebook raised. Carries the cell so the manifest can name it."""

    def __init__(
        self,
        notebook: str,
        cell_index: int,
        source: str,
        ename: str,
        evalue: str,
        parameters: Mapping[str, Any] | None = None,
    ):
        self.notebook, self.cell_index, self.source = notebook, cell_index, source
        self.ename, self.evalue = ename, evalue
        self.parameters = dict(parameters or {})
        lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        first = lines[0].strip() if lines else "(empty cell)"
        who = ", ".join(
            f"{k}={v}" for k, v in self.parameters.items() if k in ("provider", "period")
        )
        super().__init__(
            f"{Path(notebook).name} ({who}) failed in cell {cell_index} `{first}`: "
            f"{ename}: {evalue}. Open the notebook in JupyterLab with these parameters "
            "to see the full traceback."
        )


class OfflineError(RunError):
    """Exported HTML still references something on the network."""


class WorkerError(RunError):
    """A warm kernel could not be started, warmed up or reset."""


class ClusterError(RunError):
    """The Dask cluster cannot be reached or its workers cannot run the jobs."""


class Irregular(IntakeError):
    """The fast CSV reader met a line it cannot number exactly (blank, short, long, bad bytes).

    Internal: intake catches it and re-reads the file with the exact reader, which quarantines
    such lines with their row numbers; it never reaches a user.
    """

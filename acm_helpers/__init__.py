"""ACM Workbench: shared helpers behind the intake, dashboard, deep-dive and report notebooks.

Modules, one per stage (see ../shared/ARCHITECTURE.md): ``config`` (program file), ``schema``
(canonical tables), ``intake`` and ``hmis`` (sources in), ``store`` (Parquet + DuckDB),
``derive`` (system-wide derived fields), ``metrics``, ``equity`` and ``privacy`` (the engine),
``charts``, ``widgets``, ``report`` and ``batch`` (outputs), ``cli`` (the ``acm`` command).

Nothing is loaded at import time: import a submodule when you need it.
"""

__version__ = "0.1.0"

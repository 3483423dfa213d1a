"""The integration tier: tests that start subprocesses, Jupyter kernels or the `acm` command on
real files (no browser; those are in tests/e2e). They share the unit tier's row and file builders
(``test_intake.row``, ``write_csv``), so tests/unit is importable from here whichever tier pytest
collects first.
"""

from __future__ import annotations

import sys
from pathlib import Path

UNIT = str(Path(__file__).resolve().parents[1] / "unit")
if UNIT not in sys.path:
    sys.path.append(UNIT)

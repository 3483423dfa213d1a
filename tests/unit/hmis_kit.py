"""Hand-made HMIS exports for tests: the columns HUD's CSV specification requires.

The tests write minimal exports (only the columns a rule reads); the reader refuses a file
without a column that HUD's CSV Format Specifications require for the export's version
(:mod:`acm_helpers.hmis.csv_spec`). :func:`add_required_columns` adds those columns, blank, so a
minimal export stays a valid one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from acm_helpers.core import hud
from acm_helpers.hmis import csv_spec


def add_required_columns(folder: Path, csv_version: str) -> None:
    """Add every required column a written ``*.csv`` lacks (blank) for ``csv_version``."""
    version = hud.csv_version(csv_version)
    for path in sorted(Path(folder).glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = []
        for column in csv_spec.required_columns(path.stem, version):
            spellings = (column,) if isinstance(column, str) else tuple(column)
            if not any(s in frame.columns for s in spellings):
                missing.append(spellings[0])
        if missing:
            frame.assign(**dict.fromkeys(missing, "")).to_csv(path, index=False)

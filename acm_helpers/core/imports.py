"""Optional imports this package's processes refuse, as if the module were not installed.

``rfc3987_syntax`` is jsonschema's optional checker for the "iri" and "iri-reference" formats.
Jupyter's dependencies install it (``jsonschema[format-nongpl]``). When it is installed,
``import jsonschema`` builds about 37 Earley parsers for it: 1.2–1.5 s of CPU in every process
that imports altair or nbformat (jsonschema issue 1428). No schema this package meets uses
those formats: Vega-Lite's (which altair validates against) has uri, uri-reference and
color-hex; nbformat's has none. Without the module, jsonschema simply has no "iri" checker.

Call :func:`skip_unused` before the first ``import jsonschema``. After it, it has no effect.
"""

from __future__ import annotations

import sys

UNUSED_OPTIONAL: tuple[str, ...] = ("rfc3987_syntax",)


def skip_unused() -> bool:
    """Mark :data:`UNUSED_OPTIONAL` absent in this process; False when jsonschema came first."""
    if "jsonschema._format" in sys.modules:
        return False
    for name in UNUSED_OPTIONAL:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # import raises ImportError
    return True

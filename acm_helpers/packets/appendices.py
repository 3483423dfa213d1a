"""The XLSX appendix builders, registered by name.

Why a registry: a batch job carries the *name* of its appendix (``"provider"``, ``"system"``),
so jobs stay picklable and readable in the manifest, and a moved or renamed builder fails at the
lookup with the names that exist, instead of an import string that breaks silently. A builder is
called as ``build(program, store, parameters)`` and returns ``({sheet name: frame}, [(note,
text)])`` for :func:`acm_helpers.packets.xlsx.write_xlsx`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acm_helpers.core.registry import Registry
from acm_helpers.packets import packet, system

AppendixBuilder = Callable[[Any, Any, dict], tuple[dict[str, Any], list[tuple[str, str]]]]

APPENDICES: Registry[AppendixBuilder] = Registry("appendix builder")
APPENDICES.register("provider", packet.appendix)  # a provider's monthly packet
APPENDICES.register("system", system.system_appendix)  # the internal system packet


def appendix_builder(name: str) -> AppendixBuilder:
    """The builder registered under ``name``.

    Raises:
        UnknownIdError: (a ConfigError) listing the registered names.
    """
    return APPENDICES.get(name)

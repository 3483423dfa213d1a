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

AppendixBuilder = Callable[[Any, Any, dict], tuple[dict[str, Any], list[tuple[str, str]]]]


# Each builder imports its module when it is called, not when this registry is imported: the
# run's host checks the jobs' names here before any worker starts, and the builders' modules
# import altair and the packet code (0.9 s of CPU measured in `acm run`'s host, which builds no
# packet itself).
def provider_appendix(program: Any, store: Any, params: dict) -> tuple[dict, list]:
    """A provider's monthly packet: :func:`acm_helpers.packets.packet.appendix`."""
    from acm_helpers.packets import packet

    return packet.appendix(program, store, params)


def system_appendix(program: Any, store: Any, params: dict) -> tuple[dict, list]:
    """The internal system packet: :func:`acm_helpers.packets.system.system_appendix`."""
    from acm_helpers.packets import system

    return system.system_appendix(program, store, params)


APPENDICES: Registry[AppendixBuilder] = Registry("appendix builder")
APPENDICES.register("provider", provider_appendix)
APPENDICES.register("system", system_appendix)


def appendix_builder(name: str) -> AppendixBuilder:
    """The builder registered under ``name``.

    Raises:
        UnknownIdError: (a ConfigError) listing the registered names.
    """
    return APPENDICES.get(name)


def write_appendix(name: str, params: dict, path: str) -> str:
    """Build the appendix ``name`` for a packet's parameters and write it to ``path``, in the
    process that has just run the packet's notebook (the batch worker asks its warm kernel).

    Why there: the builders read the packet through :func:`acm_helpers.packets.packet.loaded`
    and :func:`acm_helpers.packets.system.loaded_system`, which return the very packet the
    notebook loaded (same arguments, program and tables unchanged) instead of reading and
    filtering the store again.

    Returns:
        JSON: ``{"path": ..., "stages": [the XLSX step's stage record]}`` (what a warm kernel's
        host reads back).
    """
    import json

    from acm_helpers.core import stages
    from acm_helpers.packets.xlsx import write_xlsx
    from acm_helpers.store.store import open_store

    stages.drain()  # the notebook's own records travelled with its cells
    with stages.stage("XLSX"):
        program, store = open_store(params["program_path"], params.get("data_dir") or None)
        sheets, notes = appendix_builder(name)(program, store, params)
        written = write_xlsx(path, sheets, notes=notes)
    return json.dumps({"path": str(written), "stages": stages.drain()})

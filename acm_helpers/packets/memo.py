"""This process's last packet load, for the XLSX appendix to reuse (issue 17).

Why: the appendix shows the rows the notebook's packet was built from; built in the process
(the warm kernel) that ran the notebook, it takes that very packet
(:func:`acm_helpers.packets.packet.loaded`, :func:`acm_helpers.packets.system.loaded_system`)
instead of reading and filtering the tables again. Standard library only; holds one entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_LOADED: dict[tuple, tuple[tuple, Any]] = {}
"""The packet this process loaded last: ``{load key: (fingerprint, packet)}``, one entry.

The key is the load's exact arguments and working folder; the
fingerprint is the program object (:func:`~acm_helpers.core.config.load_program` returns the same
object while the file's text is unchanged) and the stamps of the tables read
(:meth:`~acm_helpers.store.store.Store.tables_stamp`), taken before the read, so a replaced
table or edited program file is always read again. A warm kernel empties this dict between
notebooks (module state is restored), so no packet outlives its notebook there.
"""


def load_key(kind: str, *args: Any) -> tuple:
    """The memo key of a load: what is loaded, its arguments as given, and the working folder
    (relative paths are taken from it)."""
    return (kind, str(Path.cwd()), *(str(a) for a in args))


def remember(key: tuple, fingerprint: tuple, loaded: Any) -> None:
    """Keep ``loaded`` as this process's last load (replacing the one before)."""
    _LOADED.clear()
    _LOADED[key] = (fingerprint, loaded)


def has(key: tuple) -> bool:
    """Whether the last load had this key (then :func:`recall` checks its inputs)."""
    return key in _LOADED


def recall(key: tuple, fingerprint: tuple) -> Any | None:
    """The last load when it had this key and was read from exactly these inputs, else None."""
    hit = _LOADED.get(key)
    return hit[1] if hit is not None and hit[0] == fingerprint else None


def fingerprint(program: Any, store: Any, tables: tuple[str, ...]) -> tuple:
    """What a load was read from: the program object and the tables' file stamps."""
    return (id(program), str(store.root), store.tables_stamp(tables))

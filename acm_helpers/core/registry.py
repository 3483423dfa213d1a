"""Things found by name: a small registry, as papermill registers its engines.

Why: a job, a CLI option or a notebook parameter names what to use (``"provider"`` appendix,
``"dashboard"`` template) and the name travels through pickles and manifests; the registry
turns it into the object at the last moment. A dotted import string breaks silently when a module
moves; a registry breaks loudly, at the lookup, with the list of names it knows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from acm_helpers.core.errors import ConfigError, UnknownIdError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named items of one kind.

    Args:
        kind: what the items are, for messages (``"appendix builder"``, ``"notebook template"``).

    Example:
        >>> appendices = Registry("appendix builder")
        >>> _ = appendices.register("provider", build_provider_appendix)
        >>> appendices.get("provider")  # doctest: +SKIP
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Register ``item`` under ``name`` and return it.

        Raises:
            ConfigError: the name is empty or already taken by another item (re-registering the
                same item is a no-op, so a module imported twice does no harm).
        """
        if not name or not isinstance(name, str):
            raise ConfigError(f"A {self.kind} needs a non-empty name, not {name!r}.")
        if name in self._items and self._items[name] is not item:
            raise ConfigError(
                f"The {self.kind} name {name!r} is already registered; pick another name."
            )
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The item registered under ``name``.

        Raises:
            UnknownIdError: (a ConfigError) naming every registered name.
        """
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownIdError(self.kind, name, self.names()) from None

    def check(self, name: str) -> str:
        """``name`` if it is registered (for validating a name before it travels)."""
        self.get(name)
        return name

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"

"""The program-file reference page, generated from the pydantic models at every docs build.

Why generated: the models in ``acm_helpers/core/config.py`` are what ``load_program`` accepts,
so a page written by hand would drift the first time a field is added. This module is a MkDocs
hook (``hooks:`` in ``mkdocs.yml``): ``on_files`` adds ``reference/program-file.md`` to the
site from :func:`render`, which reads each model's fields (name, type, default, constraints and
the ``Field(description=...)`` help) and docstring. Nothing is written into ``docs/``, so
there is no copy to keep in step; ``tests/integration/test_docs.py`` checks that every field of
every model appears.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from datetime import date
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from acm_helpers.core import config

PAGE = "reference/program-file.md"

INTRO = """\
# Program file reference

One YAML file per program (`parameters/program.yaml`, `parameters/programs/*.yaml`) holds
everything program-specific. `acm_helpers.core.config.load_program(path)` reads it into the
frozen models below; an unknown key, a wrong type or a value outside its range fails with a
message naming the file and the key. This page is generated from those models at every
`make docs`, so it lists exactly what the code accepts.

Columns: **field** (the YAML key), **type**, **default** (*required* when there is none), and
what it is for. The sections follow the file's nesting: `providers:` is a list of
[Provider](#provider), `metrics:` a mapping of id to [Metric](#metric), and so on.
"""


# the patterns of config.py's annotated types, in words a reader of YAML can follow
PATTERN_WORDS = {
    r"^[a-z0-9][a-z0-9_\-]*$": "lowercase letters, digits, `_` and `-`",
    r"^[A-Z_][A-Z0-9_]*$": "an environment variable's name: capitals, digits and `_`",
}


def models() -> list[type[BaseModel]]:
    """Every model reachable from ``Program``, in the order a reader meets them."""
    return list(_places())


def _places() -> dict[type[BaseModel], str]:
    """Each model and where it sits in the YAML file ("each entry of `providers:`")."""
    seen: dict[type[BaseModel], str] = {}

    def visit(model: type[BaseModel], where: str) -> None:
        if model in seen:
            return
        seen[model] = where
        for name, info in model.model_fields.items():
            origin = get_origin(info.annotation)
            for inner in _nested(info.annotation):
                key = f"{where.split('`')[1]}.{name}" if model is not config.Program else name
                if origin is list:
                    visit(inner, f"each entry of `{key}:`")
                elif origin is dict:
                    under = "its month, YYYY-MM" if key == "roadmap" else "its id"
                    visit(inner, f"each value of `{key}:` (under {under})")
                else:
                    visit(inner, f"`{key}:`")

    visit(config.Program, "the top level of the file")
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found.extend(_nested(arg))
    return found


def type_text(annotation: Any) -> str:
    """A type as a reader of YAML thinks of it: ``list of Provider``, ``"up" or "down"``."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return " or ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        text = " or ".join(type_text(a) for a in rest)
        return f"{text} (optional)" if len(rest) < len(args) else text
    if origin is list:
        return f"list of {type_text(args[0])}"
    if origin is dict:
        return f"mapping of {type_text(args[0])} to {type_text(args[1])}"
    if origin is typing.Annotated:
        return type_text(args[0])
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    names = {
        str: "text",
        int: "integer",
        float: "number",
        bool: "true/false",
        date: "date (YYYY-MM-DD)",
    }
    if annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def default_text(info: FieldInfo) -> str:
    """The default as it would be written in YAML, or *required*."""
    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "*required*"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "its section's defaults"
    if value == "":
        return "empty"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == [] or value == {}:
        return "empty"
    return f"`{value}`"


def constraint_text(info: FieldInfo) -> str:
    """Ranges and patterns the model enforces (``ge=1`` -> "at least 1")."""
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    parts = []
    for meta in info.metadata:
        for attr, word in words.items():
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{word} {value}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            parts.append(PATTERN_WORDS.get(pattern, f"pattern `{pattern}`"))
        max_length = getattr(meta, "max_length", None)
        if max_length:
            parts.append(f"at most {max_length} characters")
    return "; ".join(parts)


def _doc(model: type[BaseModel]) -> str:
    doc = inspect.cleandoc(model.__doc__ or "")
    return re.sub(r"``([^`]+)``", r"`\1`", doc)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole reference page as Markdown."""
    out = [INTRO]
    for model, where in _places().items():
        out.append(f"\n## {model.__name__}\n")
        out.append(f"*Where:* {where}.\n")
        doc = _doc(model)
        if doc:
            out.append(doc + "\n")
        out.append("| field | type | default | what it is for |")
        out.append("|---|---|---|---|")
        for name, info in model.model_fields.items():
            help_text = info.description or ""
            limits = constraint_text(info)
            if limits:
                help_text = f"{help_text} ({limits})" if help_text else limits
            out.append(
                f"| `{name}` | {_cell(type_text(info.annotation))} | {_cell(default_text(info))} "
                f"| {_cell(help_text)} |"
            )
    return "\n".join(out) + "\n"


def on_files(files, config):  # noqa: ANN001, ANN201 - MkDocs hook signature
    """Add the generated page to the site's files (MkDocs hook)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files

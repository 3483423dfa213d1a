"""The files the package ships: notebook templates, nbconvert and Voilà templates, and the demo
program files, found with :mod:`importlib.resources` so the package works outside the checkout.

Why one module: the batch run, the contract report, the explorer and ``acm demo`` all need these
files, and each used to find them relative to the repository (``parents[2] / "notebooks"``),
which breaks after ``pip install .``. Where they live:

- ``acm_helpers/templates/`` (nbconvert ``packet``, Voilà ``acm``): inside the package.
- ``notebooks/*.ipynb`` and ``parameters/`` (``program.yaml``, ``programs/*.yaml``,
  ``meetings/*.yaml``, ``payments/*.yaml``): one copy in git, at the top of the checkout where analysts open them.
  ``pyproject.toml`` maps both folders into the installed package as ``acm_helpers/notebooks``
  and ``acm_helpers/parameters``. Run from a checkout (an editable install, or ``PYTHONPATH``),
  the package has no such folders and the checkout's own folders are used: the same files.

Notebook templates are registered by name (:data:`TEMPLATES`): jobs, the CLI and tests say
``"dashboard"``, never a path into the repository.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from acm_helpers.core.errors import ConfigError
from acm_helpers.core.registry import Registry

PACKAGE = "acm_helpers"

TEMPLATES: Registry[str] = Registry("notebook template")
"""Notebook template name -> file name in the notebooks folder."""
for _name, _file in (
    ("intake", "01_intake.ipynb"),
    ("dashboard", "02_dashboard.ipynb"),
    ("deep_dive", "03_deep_dive.ipynb"),
    ("contract", "04_end_of_contract.ipynb"),
    ("explorer", "05_explorer.ipynb"),
    ("system", "06_system.ipynb"),
):
    TEMPLATES.register(_name, _file)


def shipped(name: str) -> Path:
    """A folder the package ships (``notebooks``, ``parameters`` or ``templates``).

    Installed from a wheel, it is package data under ``acm_helpers/``; from a checkout, the
    checkout's folder of that name (``templates`` is inside the package in both cases).

    Raises:
        ConfigError: neither place has it (a broken install: reinstall the package).
    """
    package = resources.files(PACKAGE)
    installed = Path(str(package / name))
    if installed.is_dir():
        return installed
    checkout = Path(str(package)).parent / name
    if checkout.is_dir() and (checkout.parent / "pyproject.toml").is_file():
        return checkout
    raise ConfigError(
        f"The package's {name!r} folder is missing (looked in {installed} and {checkout}). "
        "Reinstall the package (`pip install .` from the project folder)."
    )


def notebooks_dir() -> Path:
    """The folder of the notebook templates."""
    return shipped("notebooks")


def notebook(template: str | Path) -> Path:
    """The notebook file of a template: a registered name (``"dashboard"``, see
    :data:`TEMPLATES`) or a notebook path (a :class:`~pathlib.Path`, or text ending in
    ``.ipynb``), returned as given.

    Raises:
        UnknownIdError: an unknown template name, listing the known ones.
    """
    if isinstance(template, Path) or str(template).endswith(".ipynb"):
        return Path(template)
    return notebooks_dir() / TEMPLATES.get(str(template))


def nbconvert_templates() -> Path:
    """The nbconvert template folder (holds ``packet/``), for ``extra_template_basedirs``."""
    return shipped("templates") / "nbconvert"


def jupyter_data_dir() -> Path:
    """The folder to put on ``JUPYTER_PATH`` so Voilà finds the ``acm`` template
    (``voila/templates/acm``)."""
    return shipped("templates") / "jupyter"


def demo_program() -> Path:
    """The shipped demo program file (``parameters/program.yaml``): the default program when
    none is given and the working folder has none."""
    return shipped("parameters") / "program.yaml"


def user_cache() -> Path:
    """The package's folder in the user's cache (``$XDG_CACHE_HOME/acm-workbench``, else
    ``~/.cache/acm-workbench``): files built once per machine and user (the chart bundle,
    the dashboard's pictures). Not created here."""
    import os

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "acm-workbench"

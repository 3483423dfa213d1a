"""Registries by name and the one path rule: notebook templates, appendix builders, and how a
program file and its store are found (docs/admin/install.md, Paths)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import nbformat
import pytest

from acm_helpers.core import resources
from acm_helpers.core.errors import ConfigError, UnknownIdError
from acm_helpers.core.registry import Registry
from acm_helpers.store.store import find_program, open_store, resolve_paths


# -- registries -------------------------------------------------------------------------------
def test_registry_names_every_known_item_when_a_name_is_unknown():
    reg: Registry[int] = Registry("widget")
    reg.register("one", 1)
    reg.register("two", 2)
    assert reg.get("two") == 2 and reg.names() == ("one", "two") and "one" in reg
    with pytest.raises(UnknownIdError, match=r"Unknown widget 'three'\. Known widgets: one, two\."):
        reg.get("three")


def test_registry_refuses_a_taken_name_but_not_the_same_item_again():
    reg: Registry[object] = Registry("widget")
    item = object()
    reg.register("a", item)
    reg.register("a", item)  # a module imported twice
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("a", object())
    with pytest.raises(ConfigError, match="non-empty name"):
        reg.register("", item)


def test_every_registered_template_is_a_shipped_notebook():
    assert resources.TEMPLATES.names() == (
        "intake",
        "dashboard",
        "deep_dive",
        "contract",
        "explorer",
        "system",
    )
    files = {resources.notebook(name).name for name in resources.TEMPLATES}
    assert files == {p.name for p in resources.notebooks_dir().glob("*.ipynb")}
    assert all(resources.notebook(name).is_file() for name in resources.TEMPLATES)


def test_a_notebook_path_is_taken_as_given_and_an_unknown_name_lists_the_known_ones(tmp_path):
    assert resources.notebook(tmp_path / "x.ipynb") == tmp_path / "x.ipynb"
    assert resources.notebook("elsewhere/x.ipynb") == Path("elsewhere/x.ipynb")
    with pytest.raises(UnknownIdError, match="Known notebook templates: intake, dashboard"):
        resources.notebook("dashbord")


def test_shipped_templates_and_demo_program_are_found():
    assert (resources.nbconvert_templates() / "packet" / "index.html.j2").is_file()
    assert (resources.jupyter_data_dir() / "voila" / "templates" / "acm" / "conf.json").is_file()
    program = resources.demo_program()
    assert program.is_file()
    assert (program.parent / "meetings" / "homeless_demo.yaml").is_file()


def test_appendix_builders_are_registered_by_name(monkeypatch):
    from acm_helpers.packets import packet, system
    from acm_helpers.packets.appendices import APPENDICES, appendix_builder

    assert APPENDICES.names() == ("provider", "system")
    # each name calls its builder (imported at the call, so the registry stays light)
    monkeypatch.setattr(packet, "appendix", lambda *a: ("provider", a))
    monkeypatch.setattr(system, "system_appendix", lambda *a: ("system", a))
    assert appendix_builder("provider")(1, 2, {"p": 3}) == ("provider", (1, 2, {"p": 3}))
    assert appendix_builder("system")(1, 2, {}) == ("system", (1, 2, {}))
    with pytest.raises(UnknownIdError, match="Known appendix builders: provider, system"):
        appendix_builder("acm_helpers.packets.packet:appendix")


def test_jobs_carry_names_and_paths_and_survive_a_pickle(tmp_path):
    from acm_helpers.batch import run as batch

    job = batch.Job.make("deep_dive", "harbor", {"period": "2026-10"}, appendix="provider")
    assert Path(job.template) == resources.notebook("deep_dive").resolve()
    assert job.appendix == "provider" and pickle.loads(pickle.dumps(job)) == job
    with pytest.raises(UnknownIdError, match="notebook template"):
        batch.Job.make("nope", "harbor", {"period": "2026-10"})


def test_a_run_with_an_unknown_appendix_fails_before_any_worker_starts(tmp_path):
    from acm_helpers.batch import run as batch

    nb = tmp_path / "t.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(nb))
    job = batch.Job.make(nb, "harbor", {"period": "2026-10"}, appendix="provder")
    settings = batch.Settings(program_path="p", data_dir="d", period_dir=str(tmp_path / "out"))
    with pytest.raises(UnknownIdError, match="Unknown appendix builder 'provder'"):
        batch.run([job], settings, progress=False)
    assert not (tmp_path / "out").exists()


# -- the one path rule --------------------------------------------------------------------------
@pytest.fixture
def project(tmp_path, program_path) -> Path:
    """A project folder: parameters/program.yaml (the demo program, data_dir data/homeless_demo)
    and an empty notebooks/ folder."""
    (tmp_path / "parameters").mkdir()
    shutil.copy(program_path, tmp_path / "parameters" / "program.yaml")
    (tmp_path / "notebooks" / "deeper").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("where", ["", "notebooks", "notebooks/deeper"])
def test_a_relative_program_is_found_from_the_project_folder_or_below(project, where):
    cwd = project / where
    for given in ("parameters/program.yaml", None):
        path, root = find_program(given, cwd=cwd)
        assert (path, root) == (project / "parameters" / "program.yaml", project)
    _, _, data = resolve_paths("parameters/program.yaml", cwd=cwd)
    assert data == project / "data" / "homeless_demo"


def test_an_absolute_program_keeps_the_working_directory_as_project_folder(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path, _, data = resolve_paths(project / "parameters" / "program.yaml", cwd=elsewhere)
    assert path == project / "parameters" / "program.yaml"
    assert data == elsewhere / "data" / "homeless_demo"


def test_a_given_data_dir_is_taken_from_the_working_directory(project):
    _, _, data = resolve_paths(None, "store", cwd=project / "notebooks")
    assert data == project / "notebooks" / "store"
    program, store = open_store(None, project / "abs", cwd=project / "notebooks")
    assert program.id == "homeless_demo" and store.root == project / "abs"


def test_without_a_program_file_the_shipped_demo_program_is_used(tmp_path):
    path, root = find_program(None, cwd=tmp_path)
    assert path == resources.demo_program() and root == tmp_path.resolve()
    _, _, data = resolve_paths(None, cwd=tmp_path)
    assert data == tmp_path.resolve() / "data" / "homeless_demo"  # never inside the package


def test_a_missing_relative_program_names_where_it_was_looked_for(tmp_path):
    with pytest.raises(
        ConfigError, match=r"parameters/nope\.yaml not found in .* any folder above"
    ):
        find_program("parameters/nope.yaml", cwd=tmp_path)


def test_every_notebook_opens_its_program_by_the_same_rule():
    """One convention in every parameters cell: the program path from the project folder and
    the program's own data_dir (the explorer takes both from `acm serve`, else the default)."""
    seen = {}
    for path in sorted(resources.notebooks_dir().glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        names: dict = {}
        exec(compile(cell.source, str(path), "exec"), {}, names)  # the cell is plain assignments
        seen[path.name] = (names.get("program_path", names.get("program_files")), names["data_dir"])
    assert seen.pop("05_explorer.ipynb") == ("", "")
    assert set(seen.values()) == {("parameters/program.yaml", "")}, seen

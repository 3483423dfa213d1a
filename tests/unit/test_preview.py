"""The loading screen's still picture (acm_helpers.explorer.preview): the view a page address
with only ``?provider=`` opens, drawn from the same Explorer the kernels run; served only for
the store state it was drawn from; the id from the address never forms a path."""

from __future__ import annotations

import asyncio
import json
import os
import re

import ipywidgets as w

from acm_helpers.core.schema import ALL
from acm_helpers.explorer import preview, voila_app


def test_widget_html_draws_what_is_shown_and_leaves_out_the_rest():
    dd = w.Dropdown(description="Provider", options=[("Harbor", "h"), ("Cascade", "c")], value="c")
    dd.add_class("acm-provider")
    hidden = w.HTML("<b>secret</b>", layout=w.Layout(display="none"))
    account = w.HTML("Signed in as <b>ann</b>")
    account.add_class("acm-account-box")
    button = w.Button(description="Show <breakdown>")
    root = w.VBox([w.HTML("<p>tile 42%</p>"), dd, hidden, account, w.HBox([button])])
    root.add_class("acm-explorer")
    root.add_class("acm-idle")

    out = preview.widget_html(root)

    assert "<p>tile 42%</p>" in out
    assert "<option>Cascade</option>" in out and "Harbor" not in out  # the current value only
    assert "secret" not in out and "Signed in as" not in out
    assert "Show &lt;breakdown&gt;</button>" in out and "disabled" in out
    # the live page's hooks are renamed, so nothing mistakes the picture for the board
    classes = " ".join(re.findall(r'class="([^"]*)"', out))
    assert "acm-preview-root" in classes
    for live in ("acm-explorer", "acm-idle", "acm-provider"):
        assert live not in classes.split()


class _Done:
    def poll(self):
        return 0


def _store(tmp_path):
    data = tmp_path / "data"
    (data / "tables").mkdir(parents=True)
    (data / "tables" / "metric_values.parquet").write_bytes(b"v1")
    program = tmp_path / "program.yaml"
    program.write_text("id: p\n")
    return data, program


def _previews(tmp_path):
    """A fake store, its Previews (stamp rechecked on every call) and the builds it started."""
    data, program = _store(tmp_path)
    builds: list = []
    previews = preview.Previews(
        tmp_path / "pictures",
        data,
        [program],
        builder=lambda out: builds.append(out) or _Done(),
        recheck=0,
    )
    return data, program, previews, builds


def test_a_picture_is_served_only_for_the_store_state_it_was_drawn_from(tmp_path):
    data, program, previews, builds = _previews(tmp_path)

    assert previews.page("harbor") is None  # nothing drawn yet: a build starts
    assert len(builds) == 1

    folder = tmp_path / "pictures" / previews.stamp()
    folder.mkdir(parents=True)
    (folder / "harbor.html").write_text("<p>harbor</p>")
    (folder / "_default.html").write_text("<p>first</p>")
    (folder / "__all__.html").write_text("<p>all</p>")
    files = {"harbor": "harbor.html", "_default": "_default.html", ALL: "__all__.html"}
    (folder / "done.json").write_text(json.dumps({"files": files}))

    assert previews.page("harbor") == "<p>harbor</p>"
    assert previews.page("") == "<p>first</p>"
    assert previews.page("all") == "<p>all</p>"
    for unknown in ("cascade", "../../etc/passwd", "harbor.html", "_default/../harbor"):
        assert previews.page(unknown) is None  # only ids the build listed, never a path
    previews.start()
    assert len(builds) == 1  # up to date: no second build

    # the store moves on (a refresh rewrote a table): the old picture is never shown
    (data / "tables" / "metric_values.parquet").write_bytes(b"v2, longer")
    assert previews.page("harbor") is None
    assert len(builds) == 2


def _mark_built(tmp_path, previews) -> None:
    folder = tmp_path / "pictures" / previews.stamp()
    folder.mkdir(parents=True)
    (folder / "done.json").write_text(json.dumps({"files": {}}))


def test_the_server_redraws_after_a_refresh_before_anyone_visits(tmp_path):
    data, program, previews, builds = _previews(tmp_path)
    previews.start()
    _mark_built(tmp_path, previews)
    assert previews.ready() and len(builds) == 1
    (data / "tables" / "metric_values.parquet").write_bytes(b"refreshed overnight")

    async def watch_until_rebuilt() -> None:
        rebuilt = asyncio.Event()
        start = previews.builder
        previews.builder = lambda out: rebuilt.set() or start(out)
        watch = voila_app.watch_previews(previews, every_s=0.01)
        try:
            await asyncio.wait_for(rebuilt.wait(), 60)  # bounds a hang; set by the rebuild
        finally:
            watch.stop()

    asyncio.run(watch_until_rebuilt())  # nobody asked for a picture
    assert len(builds) == 2


def test_the_stamp_follows_derived_tables_not_submitted_episodes(tmp_path):
    data, program = _store(tmp_path)
    first = preview.store_stamp(data, [program])
    sub = data / "tables" / "episodes_submitted" / "p=1"
    sub.mkdir(parents=True)
    (sub / "part.parquet").write_bytes(b"x")
    assert preview.store_stamp(data, [program]) == first
    quality = data / "tables" / "quality" / "provider=harbor"
    quality.mkdir(parents=True)
    (quality / "part.parquet").write_bytes(b"q")
    assert preview.store_stamp(data, [program]) != first
    later = preview.store_stamp(data, [program])
    program.write_text("id: p\nname: changed\n")
    os.utime(program, ns=(1, 1))
    assert preview.store_stamp(data, [program]) != later


def test_a_failed_build_is_not_retried_until_the_store_changes(tmp_path):
    data, program, previews, builds = _previews(tmp_path)
    for _ in range(5):  # the build "ran" and wrote nothing: every request asks again
        assert previews.page("harbor") is None
    assert len(builds) == 1
    (data / "tables" / "metric_values.parquet").write_bytes(b"v2, longer")
    assert previews.page("harbor") is None
    assert len(builds) == 2


def test_a_restarted_server_shows_the_pictures_it_drew_before(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data, program = _store(tmp_path)
    folder = preview.default_folder(data, [program])
    assert folder.is_relative_to(tmp_path / "cache" / "acm-workbench" / "previews")
    assert folder.stat().st_mode & 0o777 == 0o700  # aggregates with peers named: the user's only
    assert preview.default_folder(data, [program]) == folder  # same store, same folder
    other = tmp_path / "other"
    (other / "tables").mkdir(parents=True)
    assert preview.default_folder(other, [program]) != folder  # one folder per store

    builds: list = []
    first = preview.Previews(folder, data, [program], builder=lambda o: builds.append(o) or _Done())
    first.start()
    assert len(builds) == 1
    (folder / first.stamp()).mkdir()
    (folder / first.stamp() / "harbor.html").write_text("<p>harbor</p>")
    (folder / first.stamp() / "done.json").write_text(
        json.dumps({"files": {"harbor": "harbor.html"}})
    )

    # the server restarts, the store unchanged: its first visit gets the picture, no build
    again = preview.Previews(
        preview.default_folder(data, [program]), data, [program], builder=builds.append
    )
    assert again.page("harbor") == "<p>harbor</p>"
    assert len(builds) == 1


def test_the_stamp_follows_the_code_that_draws_the_pictures(tmp_path, monkeypatch):
    data, program = _store(tmp_path)
    now = preview.store_stamp(data, [program])
    monkeypatch.setattr(preview, "code_stamp", lambda: "an upgraded package")
    assert preview.store_stamp(data, [program]) != now


def test_old_picture_sets_are_deleted_when_a_new_one_is_drawn(tmp_path):
    day = 86_400
    now = 100 * day

    def made(name: str, age_s: float, done: bool = True):
        path = tmp_path / name
        path.mkdir()
        if done:
            (path / "done.json").write_text("{}")
            os.utime(path / "done.json", (now - age_s, now - age_s))
        os.utime(path, (now - age_s, now - age_s))
        return path

    new = made("new", 0)
    made("yesterday", day - 60)  # drawn within a day: another server may still show it
    old = [made("week", 7 * day), made("month", 30 * day)]
    dead = made("died", 2 * 3600, done=False)  # a build that never finished
    building = made("building", 60, done=False)  # one still running

    removed = preview.prune(tmp_path, keep=new, now=now)

    assert sorted(removed) == sorted([*old, dead])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["building", "new", "yesterday"]
    assert building.exists()

"""The loading screen's still pictures drawn from the demo store: each provider's first view,
as the live page shows it (the same Explorer, title and tiles), with its chart drawn.
(tests/unit/test_preview.py: serving rules, the widget walk.)"""

from __future__ import annotations

import json

import pytest

from acm_helpers.core.schema import ALL
from acm_helpers.explorer import preview
from acm_helpers.explorer.app import Explorer


def test_pictures_show_each_providers_first_view_as_the_live_page_does(
    tmp_path, demo_store, program_path, program
):
    if not demo_store.has_table("metric_values"):
        pytest.skip("the demo store has no metric_values yet")
    folder = preview.build_previews(tmp_path, str(program_path), str(demo_store.root))
    files = json.loads((folder / "done.json").read_text())["files"]
    app = Explorer([program], [demo_store], chart_mode="jupyter")
    providers = [p for p in app._allowed.providers if p != ALL]
    assert set(files) == {preview.DEFAULT_NAME, ALL, *providers}
    assert preview.build_previews(tmp_path, str(program_path), str(demo_store.root)) == folder

    for provider in providers:
        page = (folder / files[provider]).read_text(encoding="utf-8")
        app.apply_query(f"provider={provider}")
        assert app.view_title.value in page  # the same view: provider, metric, months
        shown = [body.value for box, body, _ in app._tile.values() if box.layout.display != "none"]
        assert shown and all(tile in page for tile in shown)  # the same tiles, value for value
        assert 'role="graphics-symbol"' in page  # the board's chart, drawn
        assert "Signed in as" not in page
        assert f"Loading {program.provider(provider).name}" in page
    default = (folder / files[preview.DEFAULT_NAME]).read_text(encoding="utf-8")
    assert "Loading the dashboard" in default

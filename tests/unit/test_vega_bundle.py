"""The charts' Vega bundle as ``acm serve`` sends it: one address per content, cached for a
year, gzipped on request, 404 for any other address; kernels then send a loader of a few lines
instead of the 0.9 MB module (anywidget's 2 s initialisation limit, see vega_bundle's
docstring). The handler runs in tests/integration/test_vega_bundle_server.py, the browser side in
tests/e2e/test_voila.py."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import altair as alt
import pytest

from acm_helpers.explorer import serve, vega_bundle


@pytest.fixture
def bundle(vega_bundle_file):
    """The stand-in bundle's path (tests/conftest.py)."""
    return vega_bundle_file


def test_the_address_follows_the_content(bundle):
    body = bundle.read_bytes()
    served = vega_bundle.served()
    digest = hashlib.sha256(body).hexdigest()[:16]
    assert served.address == f"acm/vega/{digest}.js"
    assert served.body == body and gzip.decompress(served.gzipped) == body
    bundle.write_bytes(body + b"// changed\n")
    vega_bundle.served.cache_clear()
    assert vega_bundle.served().address != served.address


def test_no_bundle_built_means_nothing_served(tmp_path, monkeypatch):
    monkeypatch.setenv(vega_bundle.ENV_BUNDLE, str(tmp_path / "missing.js"))
    vega_bundle.served.cache_clear()
    try:
        assert vega_bundle.served() is None
        page = serve.loading_page_config({"baseUrl": "/"}, loading={})
        assert vega_bundle.PAGE_CONFIG_KEY not in page
    finally:
        vega_bundle.served.cache_clear()


def test_the_page_config_names_the_bundle(bundle):
    page = serve.loading_page_config({"baseUrl": "/user/ana/"}, loading={"default": "x"})
    assert page[vega_bundle.PAGE_CONFIG_KEY] == vega_bundle.served().address
    assert page["acmLoading"] == {"default": "x"} and page["baseUrl"] == "/user/ana/"


def test_served_kernels_send_the_loader_not_the_bundle(bundle, monkeypatch):
    monkeypatch.setattr(alt.JupyterChart, "_esm", alt.JupyterChart._esm)
    monkeypatch.setattr(alt.JupyterChart, "_is_offline", False)
    monkeypatch.setenv(vega_bundle.ENV_SERVED, "1")
    vega_bundle.enable_offline()
    assert alt.JupyterChart._esm == vega_bundle.LOADER and alt.JupyterChart._is_offline
    loader = vega_bundle.LOADER
    assert len(loader) < 1000 and "http" not in loader  # no address of its own: the page's
    assert f"config.{vega_bundle.PAGE_CONFIG_KEY}" in loader and "await import(" in loader


def test_unserved_kernels_inline_the_bundle(bundle, monkeypatch):
    monkeypatch.setattr(alt.JupyterChart, "_esm", alt.JupyterChart._esm)
    monkeypatch.setattr(alt.JupyterChart, "_is_offline", False)
    monkeypatch.delenv(vega_bundle.ENV_SERVED, raising=False)
    vega_bundle.enable_offline()
    assert alt.JupyterChart._esm == bundle.read_text()  # JupyterLab: no server to import from


def test_the_anywidget_limit_the_template_lifts_is_still_there():
    """The ``acm`` template lifts anywidget's 2 s model limit by wrapping
    ``AbortSignal.timeout`` for 2000 ms (see vega_bundle's docstring). An anywidget upgrade
    that changes how it times a model out must be noticed here, not by staff."""
    from jupyter_core.paths import jupyter_path

    from acm_helpers.core.resources import jupyter_data_dir

    sources = [
        path.read_text(encoding="utf-8")
        for root in jupyter_path("labextensions")
        for path in sorted((Path(root) / "anywidget" / "static").glob("*.js"))
    ]
    limited = [s for s in sources if "Failed to initialize model" in s]
    assert limited, "the installed anywidget has no model limit message"
    assert all("AbortSignal.timeout(2000)" in s for s in limited)
    template = jupyter_data_dir() / "voila" / "templates" / "acm" / "index.html.j2"
    assert "ms === 2000 ? 600000 : ms" in template.read_text(encoding="utf-8")


def test_the_widget_managers_state_timer_the_template_lifts_is_still_there():
    """The ``acm`` template gives the widget manager's 4 s wait for the kernel's widget states
    10 minutes, recognising that timer by its message (a page that passes it on a busy
    machine kept its loading screen for good: ipywidgets issue 3633). A Voilà or ipywidgets
    upgrade that changes the timer must be noticed here."""
    import re

    from jupyter_core.paths import jupyter_path

    from acm_helpers.core.resources import jupyter_data_dir

    sources = [
        path.read_text(encoding="utf-8")
        for root in jupyter_path("voila/labextensions")
        for path in sorted(
            (Path(root) / "@voila-dashboards" / "widgets-manager8" / "static").glob("*.js")
        )
    ]
    timed = [s for s in sources if "Control comm did not respond in time" in s]
    assert timed, "Voilà's widget manager no longer has the control comm timer"
    pattern = r'setTimeout\(\(\(\)=>\w+\("Control comm did not respond in time"\)\),4e3\)'
    assert all(re.search(pattern, s) for s in timed)
    template = jupyter_data_dir() / "voila" / "templates" / "acm" / "index.html.j2"
    text = template.read_text(encoding="utf-8")
    assert 'CONTROL = "Control comm did not respond in time"' in text
    assert "ms === 4000" in text and "args[1] = 600000" in text

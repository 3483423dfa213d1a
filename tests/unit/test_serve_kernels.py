"""``acm serve``'s kernel rules without a server: which kernel is shut down when, which pooled
kernel a visitor gets, what the busy page and the loading screen say, which static paths are
refused. The browser tests (tests/e2e/test_voila_kernels.py) run the same rules for real."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest
import tornado.web
import traitlets

from acm_helpers.core.errors import ConfigError
from acm_helpers.explorer import serve, voila_app


class _Task:
    """A finished pool entry, as Voilà keeps them (an asyncio task holding the kernel id)."""

    def __init__(self, kernel_id: str, done: bool = True):
        self.kernel_id, self._done = kernel_id, done

    def done(self):
        return self._done

    def cancelled(self):
        return False

    def exception(self):
        return None

    def result(self):
        return {"kernel_id": self.kernel_id}


def _manager(kernels: dict, connections: dict, *, page=60, connect=120, idle=1800):
    km = voila_app.BoundedKernelManager(
        page_timeout=page, connect_timeout=connect, cull_idle_timeout=idle, cull_connected=True
    )
    km._kernels = kernels
    km._kernel_connections = connections
    km.stopped = []

    async def shutdown(kernel_id, *args, **kwargs):
        km.stopped.append(kernel_id)

    km.shutdown_kernel = shutdown
    return km


def _kernel(quiet_s: float, state: str = "idle"):
    return SimpleNamespace(
        execution_state=state, last_activity=voila_app._utcnow() - timedelta(seconds=quiet_s)
    )


@pytest.mark.parametrize(
    "quiet, state, connections, connected_once, stopped",
    [
        pytest.param(61, "idle", 0, True, True, id="closed-page-quiet-past-page-timeout"),
        pytest.param(30, "idle", 0, True, False, id="closed-page-within-page-timeout"),
        pytest.param(61, "idle", 0, False, False, id="page-still-loading-gets-connect-timeout"),
        pytest.param(121, "idle", 0, False, True, id="page-never-connected"),
        pytest.param(600, "idle", 1, True, False, id="open-page-reading"),
        pytest.param(1801, "idle", 1, True, True, id="open-page-unused-past-idle-timeout"),
        pytest.param(900, "busy", 0, True, False, id="busy-kernel-kept"),
        pytest.param(0, "dead", 1, True, True, id="dead-kernel"),
    ],
)
def test_kernel_is_shut_down_by_its_pages_state(quiet, state, connections, connected_once, stopped):
    km = _manager({"k": _kernel(quiet, state)}, {"k": connections})
    if connected_once:
        km._connected_once.add("k")
    asyncio.run(km.cull_kernel_if_idle("k"))
    assert km.stopped == (["k"] if stopped else [])


def test_quiet_time_of_a_closed_page_starts_at_the_disconnect():
    km = _manager({"k": _kernel(3600)}, {"k": 1})
    km._connected_once.add("k")
    km.notify_disconnect("k")  # quiet for an hour, but the page closed just now
    asyncio.run(km.cull_kernel_if_idle("k"))
    assert km.stopped == []
    km._disconnected_at["k"] -= timedelta(seconds=61)
    asyncio.run(km.cull_kernel_if_idle("k"))
    assert km.stopped == ["k"]


def test_a_kernel_still_starting_is_left_alone():
    """Jupyter's kernel manager has no ``last_activity`` until the kernel has started, and
    reading the unset trait raises TraitError (not AttributeError): under twenty visits at once
    the cull check hit such kernels and logged a traceback every second (2026-12-04)."""
    from jupyter_server.services.kernels.kernelmanager import ServerKernelManager

    starting = ServerKernelManager()
    with pytest.raises(traitlets.TraitError):
        starting.last_activity  # noqa: B018  (what the cull check used to trip on)
    starting.execution_state = "starting"
    km = _manager({"k": starting}, {"k": 0})
    asyncio.run(km.cull_kernel_if_idle("k"))
    assert km.stopped == []


def test_pooled_kernels_are_not_page_kernels():
    km = _manager({"a": _kernel(0), "b": _kernel(0), "c": _kernel(0)}, {})
    km.list_kernel_ids = lambda: ["a", "b", "c"]
    km._pools = {"nb.ipynb": [_Task("b"), _Task("x", done=False)]}
    assert voila_app.pooled_kernel_ids(km) == {"b"}
    assert km.page_kernel_count() == 2


def test_a_visitor_gets_a_ready_pooled_kernel_never_one_still_loading(monkeypatch):
    km = SimpleNamespace(_pools={"nb": [_Task("loading"), _Task("ready"), _Task("pending", False)]})
    monkeypatch.setattr(voila_app.RequestInfoSocketHandler, "_waiters", {"ready": object()})
    assert voila_app.promote_ready_kernel(km, "nb") is True
    assert [t.kernel_id for t in km._pools["nb"]] == ["ready", "loading", "pending"]
    monkeypatch.setattr(voila_app.RequestInfoSocketHandler, "_waiters", {})
    assert voila_app.promote_ready_kernel(km, "nb") is False  # -> a fresh kernel at once


def test_busy_page_is_plain_and_asks_to_retry():
    page = voila_app.busy_page(16)
    assert voila_app.BUSY_TITLE in page and "Please retry in a minute" in page
    assert "(16 open pages)" in page and 'http-equiv="refresh" content="60"' in page
    assert "<script" not in page


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("acm/static/../../etc/passwd", id="dotdot"),
        pytest.param("../../etc/static/passwd", id="template-dotdot"),
        pytest.param("acm", id="no-static-part"),
        pytest.param("acm/other/x.js", id="not-static"),
        pytest.param("acm/static//x.js", id="empty-segment"),
        pytest.param("acm/static/..\\..\\x", id="backslashes"),
    ],
)
def test_template_static_paths_outside_the_shape_are_404(path):
    handler = voila_app.SafeTemplateStaticFileHandler.__new__(
        voila_app.SafeTemplateStaticFileHandler
    )
    with pytest.raises(tornado.web.HTTPError) as err:
        handler.parse_url_path(path)
    assert err.value.status_code == 404


def test_loading_texts_name_each_provider(program_path, program):
    texts = serve.loading_texts(serve.ServeSettings(programs=(program_path,)))
    assert texts["default"] == "Loading the dashboard\u2026"
    assert texts["providers"]["harbor"] == f"Loading {program.provider('harbor').name}\u2026"
    assert set(texts["providers"]) == set(program.provider_ids)
    cfg = serve.voila_config(serve.ServeSettings(programs=(program_path,)))
    page = cfg.VoilaConfiguration.page_config_hook({"baseUrl": "/"}, base_url="/")
    assert page["acmLoading"] == texts and page["baseUrl"] == "/"


def test_new_tokens_are_long_and_different():
    a, b = serve.new_token(), serve.new_token()
    assert a != b and len(a) >= 30


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"page_timeout": 0}, id="page-timeout"),
        pytest.param({"connect_timeout": -1}, id="connect-timeout"),
        pytest.param({"max_kernels": -1}, id="max-kernels"),
    ],
)
def test_kernel_limits_refuse_bad_values(kwargs):
    with pytest.raises(ConfigError):
        serve.ServeSettings(**kwargs)


class _Pooling(voila_app.BoundedKernelManager):
    """Stands in for Voilà's pooling subclass: it defines fill_if_needed and fill_delay."""

    fill_delay = 20

    def fill_if_needed(self, delay=None, notebook_name=None, **kwargs):
        self.fills.append((delay, notebook_name))


async def _until(condition) -> None:
    for _ in range(10_000):  # bounds a hang; each step waits on the loop, not a clock
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


def test_the_pool_refills_once_the_visitors_page_has_connected():
    async def run():
        km = _Pooling(refill_after_connect=0.0)
        km.fills = []
        km._kernel_connections = {"k1": 0}
        km.fill_if_needed(delay=0, notebook_name="nb")  # at start: at once, as Voilà does
        assert km.fills == [(0, "nb")]
        km.fill_if_needed(notebook_name="nb")  # a visitor took the pooled kernel
        await asyncio.sleep(0)
        assert km.fills == [(0, "nb")]  # not while that page is still loading
        km.notify_connect("k1")
        await _until(lambda: len(km.fills) == 2)
        assert km.fills[1] == (0, "nb")
        km.notify_connect("k1")  # a second connection of the same page: no second refill
        await asyncio.sleep(0.05)
        assert len(km.fills) == 2

    asyncio.run(run())


def test_the_pool_refills_after_fill_delay_when_no_page_ever_connects():
    async def run():
        km = _Pooling()
        km.fill_delay = 0.01
        km.fills = []
        km.fill_if_needed(notebook_name="nb")
        await _until(lambda: len(km.fills) == 1)
        assert km.fills == [(0, "nb")]

    asyncio.run(run())

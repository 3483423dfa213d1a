"""A preheated kernel's wait for its visitor (``serve.request_query``): the exchange with Voilà's
``voila/query/<kernel id>`` websocket, against a stand-in server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from acm_helpers.explorer import serve


def test_a_preheated_kernel_gets_the_visitors_query_from_voilas_websocket(monkeypatch):
    websockets = pytest.importorskip("websockets")
    paths, ready, stop = [], threading.Event(), threading.Event()
    port = serve.free_port()

    async def handler(ws):
        paths.append(ws.request.path)
        await ws.send(json.dumps({"QUERY_STRING": "provider=harbor&metric=x"}))

    async def main():
        async with websockets.serve(handler, "127.0.0.1", port):
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    try:
        assert ready.wait(60)
        for key, value in {
            "VOILA_PREHEAT": "True",
            "VOILA_APP_IP": "127.0.0.1",
            "VOILA_APP_PORT": str(port),
            "VOILA_SERVER_URL": "/user/alice/",
            "VOILA_KERNEL_ID": "k-123",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("VOILA_WS_BASE_URL", raising=False)
        monkeypatch.delenv("QUERY_STRING", raising=False)
        waited = []
        assert serve.request_query(while_waiting=lambda: waited.append(1)) == (
            "provider=harbor&metric=x"
        )
        assert waited == [1] and paths == ["/user/alice/voila/query/k-123"]
    finally:
        stop.set()
        thread.join(60)


def test_a_fresh_kernel_reads_the_query_from_its_environment(monkeypatch):
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.setenv("QUERY_STRING", "provider=cascade")
    assert serve.request_query(while_waiting=lambda: pytest.fail("no idle work")) == (
        "provider=cascade"
    )

"""``/acm/vega/<hash>.js`` on a real Tornado server (127.0.0.1): the current address is
served, cacheable for a year and gzipped on request; any other address is 404."""

from __future__ import annotations

import gzip

import pytest
import tornado.testing
import tornado.web

from acm_helpers.explorer import vega_bundle, voila_app


class TestHandler(tornado.testing.AsyncHTTPTestCase):
    """The handler on a real (127.0.0.1) Tornado server."""

    @pytest.fixture(autouse=True)
    def _bundle(self, vega_bundle_file):
        self.body = vega_bundle_file.read_bytes()
        self.served = vega_bundle.served()

    def get_app(self):
        return tornado.web.Application(
            [(r"/acm/vega/([0-9a-f]{16})\.js", voila_app.VegaBundleHandler)]
        )

    def test_the_current_address_is_served_cacheable(self):
        resp = self.fetch("/" + self.served.address, decompress_response=False)
        assert resp.code == 200 and resp.body == self.body
        assert resp.headers["Content-Type"].startswith("text/javascript")
        assert "immutable" in resp.headers["Cache-Control"]
        assert "Content-Encoding" not in resp.headers

    def test_gzip_when_the_browser_accepts_it(self):
        resp = self.fetch(
            "/" + self.served.address,
            headers={"Accept-Encoding": "gzip"},
            decompress_response=False,
        )
        assert resp.code == 200 and resp.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(resp.body) == self.body and len(resp.body) < len(self.body)

    def test_any_other_address_is_404(self):
        resp = self.fetch("/acm/vega/0123456789abcdef.js")
        assert resp.code == 404 and self.body not in resp.body

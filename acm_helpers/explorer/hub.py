"""The staff dashboard behind JupyterHub: ``acm serve --jupyterhub``, the single-user server.

Why this shape: JupyterHub logs staff in (its authenticator: OAuth, LDAP, PAM or a shared
password) and starts one server per user through its spawner. That server is the same locked-down
Voilà app ``acm serve`` runs on one machine (:mod:`acm_helpers.explorer.serve`: the ``acm``
template, sources stripped, preheated kernels, culling), not a Jupyter server with Voilà as an
extension, so a logged-in user reaches the read-only dashboard and nothing else: there is no file
browser, no notebook editor, no terminal, and Voilà's kernel websocket refuses
``execute_request``. Only three things change behind the hub:

- where it listens and under which prefix (``/user/<name>/``): from the ``JUPYTERHUB_*``
  variables the spawner sets (:func:`hub_settings`, :func:`hub_config`);
- who may open a page: JupyterHub's own identity provider for Jupyter servers
  (``jupyterhub.singleuser.extension.JupyterHubIdentityProvider``) checks the hub's OAuth
  cookie and the ``access:servers`` scope, so only the owner (and hub admins) get in and an
  anonymous visitor is sent to the hub's login page;
- no token: the hub's login replaces it.

The deployment (``deploy/jupyterhub/jupyterhub_config.py``) sets ``c.Spawner.cmd`` to this
command; docs/admin/jupyterhub.md has the steps.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from urllib.parse import urlparse

from acm_helpers.core.errors import ConfigError
from acm_helpers.explorer.serve import ServeSettings

ENV_SERVICE_URL = "JUPYTERHUB_SERVICE_URL"  # where the hub expects this server to listen
ENV_SERVICE_PREFIX = "JUPYTERHUB_SERVICE_PREFIX"  # the URL prefix, e.g. /user/alice/
ENV_USER = "JUPYTERHUB_USER"  # the hub user this server belongs to
ENV_BASE_URL = "JUPYTERHUB_BASE_URL"  # the hub's own prefix ("/" unless the hub is moved)


def signed_in(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """Who is signed in to this dashboard behind the hub, and the hub's log-out address.

    Behind JupyterHub every server belongs to one user, whose name the spawner puts in
    ``$JUPYTERHUB_USER`` (inherited by the server's kernels); the hub logs out at
    ``<hub base url>hub/logout``. Served alone (``acm serve``) there is no user: None, and the
    dashboard shows no account line.
    """
    env = os.environ if env is None else env
    user = env.get(ENV_USER, "")
    if not user or not env.get(ENV_SERVICE_PREFIX):
        return None
    base = env.get(ENV_BASE_URL, "") or "/"
    return user, base.rstrip("/") + "/hub/logout"


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(
            f"acm serve --jupyterhub runs as JupyterHub's single-user server, but ${name} is "
            "not set: JupyterHub's spawner sets it. Start the hub instead (`make hub`, "
            "deploy/jupyterhub/jupyterhub_config.py), or run `acm serve` without --jupyterhub "
            "on one machine."
        )
    return value


def hub_settings(settings: ServeSettings, env: Mapping[str, str] | None = None) -> ServeSettings:
    """``settings`` with the address JupyterHub assigned (``$JUPYTERHUB_SERVICE_URL``).

    The hub's proxy forwards ``/user/<name>/`` to exactly that host and port, so ``--host`` and
    ``--port`` are replaced; the token is dropped because the hub's login protects the page.

    Raises:
        ConfigError: not started by JupyterHub (no ``$JUPYTERHUB_SERVICE_URL``), or a URL
            without a port.
    """
    env = os.environ if env is None else env
    url = urlparse(_require(env, ENV_SERVICE_URL))
    if not url.port:
        raise ConfigError(
            f"${ENV_SERVICE_URL}={url.geturl()!r} names no port; the hub's spawner always "
            "sets one (check c.Spawner.port in jupyterhub_config.py)."
        )
    return dataclasses.replace(
        settings, host=url.hostname or "127.0.0.1", port=url.port, token=None
    )


def hub_config(env: Mapping[str, str] | None = None):
    """Voilà config added to :func:`acm_helpers.explorer.serve.voila_config` behind the hub:
    the user's URL prefix and JupyterHub's login in place of the token."""
    from traitlets.config import Config

    env = os.environ if env is None else env
    prefix = _require(env, ENV_SERVICE_PREFIX)
    c = Config()
    c.Voila.base_url = prefix if prefix.endswith("/") else prefix + "/"
    c.Voila.identity_provider_class = identity_provider_class()
    c.Voila.authorizer_class = _jupyterhub_singleuser().JupyterHubAuthorizer
    c.Voila.token = ""
    return c


def _jupyterhub_singleuser():
    try:
        from jupyterhub.singleuser import extension
    except ImportError as exc:
        raise ConfigError(
            "acm serve --jupyterhub needs JupyterHub in this environment: "
            "pip install -c constraints.txt -e '.[hub]' (docs/admin/jupyterhub.md, 'Login with "
            f"JupyterHub'). ({exc})"
        ) from exc
    return extension


@functools.cache
def identity_provider_class() -> type:
    """JupyterHub's identity provider for Jupyter servers, with its handlers under the prefix.

    Why a subclass: a Jupyter server prefixes every handler with ``base_url``; Voilà's
    standalone app does not prefix the identity provider's handlers, so without it the hub's
    OAuth callback (``/user/<name>/oauth_callback``) would reach the dashboard's catch-all route
    instead of completing the login. Built on first use so that importing this module does not
    need JupyterHub.
    """
    from jupyter_server.utils import url_path_join

    base = _jupyterhub_singleuser().JupyterHubIdentityProvider

    class AcmHubIdentityProvider(base):
        def __init__(self, token: str | None = None, **kwargs):
            # Voilà passes its own (empty) token; behind the hub the token is the hub's API
            # token (a read-only property of the base class), so Voilà's is dropped.
            super().__init__(**kwargs)

        def get_handlers(self):
            prefix = getattr(self.parent, "server_url", "") or "/"
            return [
                (url_path_join(prefix, route), *rest) for route, *rest in super().get_handlers()
            ]

    return AcmHubIdentityProvider


def serve_behind_hub(settings: ServeSettings) -> None:
    """Run the dashboard as this user's JupyterHub server until the hub stops it."""
    from acm_helpers.explorer.serve import serve

    behind_hub = hub_settings(settings)  # first: a missing hub is the likelier mistake
    serve(behind_hub, extra_config=hub_config())

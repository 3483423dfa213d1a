"""``acm serve --jupyterhub``: what changes behind the hub (address, prefix, login) and what the
deployment file configures. The hub itself, a browser and a login are in
tests/e2e/test_jupyterhub.py."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from traitlets.config import Config, Configurable
from typer.testing import CliRunner

from acm_helpers.cli import app
from acm_helpers.core.errors import ConfigError
from acm_helpers.explorer import hub
from acm_helpers.explorer.serve import ServeSettings, voila_config

ROOT = Path(__file__).resolve().parents[2]
HUB_ENV = {
    "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:41234/user/alice/",
    "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
}


@pytest.fixture()
def settings(program_path) -> ServeSettings:
    return ServeSettings(programs=(program_path,), token="s3cret", port=8866, host="0.0.0.0")


def test_hub_assigns_address_and_replaces_the_token(settings):
    behind = hub.hub_settings(settings, HUB_ENV)
    assert (behind.host, behind.port, behind.token) == ("127.0.0.1", 41234, None)
    assert behind.programs == settings.programs  # the same dashboard, same data
    assert behind.pool_size == settings.pool_size and behind.preheat == settings.preheat


@pytest.mark.parametrize(
    "env, message",
    [
        pytest.param({}, "$JUPYTERHUB_SERVICE_URL is not set", id="not-started-by-a-hub"),
        pytest.param(
            {"JUPYTERHUB_SERVICE_URL": "http://127.0.0.1/user/a/"}, "names no port", id="no-port"
        ),
    ],
)
def test_not_behind_a_hub_is_refused_plainly(settings, env, message):
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        hub.hub_settings(settings, env)


def test_config_puts_the_dashboard_under_the_users_prefix_with_the_hubs_login(settings):
    from jupyterhub.singleuser.extension import JupyterHubAuthorizer, JupyterHubIdentityProvider

    c = voila_config(hub.hub_settings(settings, HUB_ENV))
    c.merge(hub.hub_config({"JUPYTERHUB_SERVICE_PREFIX": "/user/alice"}))
    assert c.Voila.base_url == "/user/alice/"
    assert c.Voila.token == ""
    assert issubclass(c.Voila.identity_provider_class, JupyterHubIdentityProvider)
    assert c.Voila.authorizer_class is JupyterHubAuthorizer
    # everything else that makes the dashboard safe is acm serve's, unchanged
    assert c.VoilaConfiguration.strip_sources is True
    assert c.VoilaConfiguration.allow_template_override == "NO"
    assert c.Voila.ip == "127.0.0.1" and c.Voila.port == 41234


def test_login_handlers_live_under_the_users_prefix(monkeypatch):
    """The hub redirects to /user/<name>/oauth_callback; Voilà must route that to the login."""
    for key, value in {
        "JUPYTERHUB_API_TOKEN": "t0ken",
        "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
        "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-alice",
        "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": "/user/alice/oauth_callback",
    }.items():
        monkeypatch.setenv(key, value)

    class FakeVoila(Configurable):
        server_url = "/user/alice/"

    provider = hub.identity_provider_class()(parent=FakeVoila(), token="")
    routes = [h[0] for h in provider.get_handlers()]
    assert routes == ["/user/alice/logout", "/user/alice/oauth_callback"]
    assert provider.token == "t0ken"  # the hub's API token, not Voilà's empty one


def test_cli_behind_no_hub_exits_with_the_fix(monkeypatch, program_path):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_URL", raising=False)
    result = CliRunner().invoke(app, ["serve", "--jupyterhub", "--program", str(program_path)])
    assert result.exit_code == 2
    assert "JUPYTERHUB_SERVICE_URL is not set" in result.output
    assert "make hub" in result.output
    assert "Traceback" not in result.output


def _load_deploy_config(monkeypatch, tmp_path, **env) -> Config:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    c = Config()
    runpy.run_path(
        str(ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"),
        init_globals={"get_config": lambda: c},
    )
    return c


def test_deploy_config_binds_this_machine_and_starts_the_dashboard(
    monkeypatch, tmp_path, demo_store, program_path
):
    monkeypatch.delenv("ACM_HUB_IP", raising=False)
    c = _load_deploy_config(
        monkeypatch,
        tmp_path,
        ACM_PROGRAM=str(program_path),
        ACM_DATA_DIR=str(demo_store.root),
        ACM_HUB_STATE=str(tmp_path / "state"),
        ACM_HUB_AUTHENTICATOR="shared-password",
        ACM_HUB_PASSWORD="long-enough-password",
        ACM_HUB_USERS="alice, bob",
        ACM_HUB_POOL_SIZE="2",
    )
    assert c.JupyterHub.ip == c.JupyterHub.hub_ip == c.Spawner.ip == "127.0.0.1"
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "long-enough-password"
    assert c.Authenticator.allowed_users == {"alice", "bob"}
    assert c.JupyterHub.spawner_class == "simple"
    assert (Path(c.JupyterHub.template_paths[0]) / "spawn_pending.html").exists()
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'state' / 'jupyterhub.sqlite'}"
    args = c.Spawner.args
    assert args[:2] == ["serve", "--jupyterhub"]
    assert args[args.index("--program") + 1] == str(program_path.resolve())
    assert args[args.index("--data-dir") + 1] == str(demo_store.root.resolve())
    assert args[args.index("--pool-size") + 1] == "2"


@pytest.mark.parametrize(
    "env, message",
    [
        pytest.param(
            {"ACM_HUB_AUTHENTICATOR": "shared-password"}, "needs ACM_HUB_PASSWORD", id="no-pw"
        ),
        pytest.param(
            {"ACM_HUB_AUTHENTICATOR": "pam", "ACM_DATA_DIR": "{empty}"},
            "no metric_values in",
            id="store-without-metrics",
        ),
    ],
)
def test_deploy_config_refuses_an_open_or_empty_hub(monkeypatch, tmp_path, env, message):
    monkeypatch.delenv("ACM_HUB_PASSWORD", raising=False)
    monkeypatch.delenv("ACM_PROGRAM", raising=False)
    env = {k: v.replace("{empty}", str(tmp_path / "empty")) for k, v in env.items()}
    with pytest.raises(SystemExit, match=message):
        _load_deploy_config(monkeypatch, tmp_path, ACM_HUB_STATE=str(tmp_path / "s"), **env)


@pytest.mark.parametrize(
    "env, want",
    [
        pytest.param(
            HUB_ENV | {"JUPYTERHUB_USER": "alice", "JUPYTERHUB_BASE_URL": "/"},
            ("alice", "/hub/logout"),
            id="behind-the-hub",
        ),
        pytest.param(
            HUB_ENV | {"JUPYTERHUB_USER": "alice", "JUPYTERHUB_BASE_URL": "/staff/"},
            ("alice", "/staff/hub/logout"),
            id="hub-under-a-prefix",
        ),
        pytest.param({"JUPYTERHUB_USER": "alice"}, None, id="a-stray-variable-is-not-a-hub"),
        pytest.param({}, None, id="served-alone"),
    ],
)
def test_signed_in_names_the_hub_user_and_the_hubs_logout(env, want):
    assert hub.signed_in(env) == want

# JupyterHub for the ACM staff dashboard: staff log in through the hub, and each gets the
# read-only explorer (`acm serve --jupyterhub`, the same Voila app as `acm serve`) as the only
# thing their server shows. Start it with `make hub`, or:
#
#     ACM_PROGRAM=parameters/program.yaml jupyterhub -f deploy/jupyterhub/jupyterhub_config.py
#
# Everything a site changes is an environment variable (defaults in brackets):
#   ACM_PROGRAM            program file(s) the dashboard shows, joined with ':' [acm's default]
#   ACM_DATA_DIR           the store, when not the program's data_dir [the program's]
#   ACM_HUB_IP             address staff connect to [127.0.0.1: this machine only; put a TLS
#                          reverse proxy in front, or set 0.0.0.0 plus c.JupyterHub.ssl_cert/key]
#   ACM_HUB_PORT           port staff connect to [8000]
#   ACM_HUB_API_PORT       the hub's internal port, 127.0.0.1 only [8081]
#   ACM_HUB_PROXY_API_PORT the proxy's control port, 127.0.0.1 only [8001]
#   ACM_HUB_STATE          folder for the hub's database, cookie secret and proxy pid
#                          [data/jupyterhub, under the folder the hub is started from]
#   ACM_HUB_AUTHENTICATOR  who logs staff in: an entry-point name or a class [pam]
#                            pam              this machine's accounts (the hub must run as root)
#                            shared-password  one password for every listed user (trials, tests)
#                            dummy            any password: never outside a test
#                            generic-oauth, github, azuread, ... (pip install oauthenticator)
#                            ldapauthenticator (pip install jupyterhub-ldapauthenticator)
#   ACM_HUB_PASSWORD       the shared password (shared-password: 8 characters or more)
#   ACM_HUB_USERS          who may log in, comma-separated (empty: nobody; OAuth sites may use
#                          allowed groups/organisations instead, see the examples below)
#   ACM_HUB_ADMINS         hub admins, comma-separated [none]
#   ACM_HUB_SPAWNER        how user servers start [simple: SimpleLocalProcessSpawner, see below;
#                          localprocess: as each user's system account, which must then read
#                          the store; or a container/systemd spawner]
#   ACM_HUB_POOL_SIZE      preheated kernels per logged-in user [1; 0 turns preheating off]
#   ACM_HUB_LOGIN_NOTE     the line shown above the login form
#   ACM_HUB_START_TIMEOUT  seconds a user's dashboard may take to start [300]
#
# Why SimpleLocalProcessSpawner by default: every user's dashboard reads the same store with the
# same rights, so all of them can run as the hub's own (unprivileged) account, and OAuth or LDAP
# staff need no system account. JupyterHub calls it unfit for production because it gives users
# no isolation from each other, which matters when users run code; here a user's server has no
# file browser, editor or terminal, its kernels refuse code sent from the page, and the hub's
# login admits only its owner. A site that wants per-user limits or isolation sets
# ACM_HUB_SPAWNER (systemdspawner, dockerspawner), with the same c.Spawner.cmd.
import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub provides get_config when it loads this file)

HERE = Path(__file__).resolve().parent
env = os.environ.get


def _users(name: str) -> set[str]:
    return {u.strip() for u in env(name, "").split(",") if u.strip()}


# -- where it listens: staff on ACM_HUB_IP:ACM_HUB_PORT, everything internal on 127.0.0.1 -------
c.JupyterHub.ip = env("ACM_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(env("ACM_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env("ACM_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('ACM_HUB_PROXY_API_PORT', '8001')}"
c.Spawner.ip = "127.0.0.1"

# -- state: outside the checkout's tracked files ---------------------------------------------
state = Path(env("ACM_HUB_STATE", "data/jupyterhub")).resolve()
state.mkdir(parents=True, exist_ok=True)
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")

# -- the proxy: configurable-http-proxy pinned by package-lock.json here (`npm ci`, make
# system-deps), else one on PATH (`npm install -g configurable-http-proxy`) ------------------
local_proxy = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [
    str(local_proxy) if local_proxy.exists() else shutil.which("configurable-http-proxy") or ""
]

# -- login -------------------------------------------------------------------------------------
authenticator = env("ACM_HUB_AUTHENTICATOR", "pam")
c.JupyterHub.authenticator_class = authenticator
c.Authenticator.allowed_users = _users("ACM_HUB_USERS")
c.Authenticator.admin_users = _users("ACM_HUB_ADMINS")
if authenticator in ("shared-password", "dummy"):
    password = env("ACM_HUB_PASSWORD", "")
    if not password:
        sys.exit(
            f"ACM_HUB_AUTHENTICATOR={authenticator} needs ACM_HUB_PASSWORD (8+ characters): "
            "without it anyone could log in. Set it, or choose pam/OAuth/LDAP."
        )
    if authenticator == "dummy":
        c.DummyAuthenticator.password = password
    else:
        c.SharedPasswordAuthenticator.user_password = password
c.JupyterHub.template_paths = [str(HERE / "templates")]  # the "dashboard is opening" page
c.JupyterHub.template_vars = {
    "announcement_login": env(
        "ACM_HUB_LOGIN_NOTE", "ACM Workbench staff dashboard: sign in to open it."
    )
}

# OAuth (pip install oauthenticator), e.g. the agency's identity provider over OpenID Connect:
#   ACM_HUB_AUTHENTICATOR=generic-oauth, then here:
# c.GenericOAuthenticator.client_id = os.environ["OAUTH_CLIENT_ID"]
# c.GenericOAuthenticator.client_secret = os.environ["OAUTH_CLIENT_SECRET"]
# c.GenericOAuthenticator.oauth_callback_url = "https://acm.example.org/hub/oauth_callback"
# c.GenericOAuthenticator.authorize_url = "https://login.example.org/oauth2/authorize"
# c.GenericOAuthenticator.token_url = "https://login.example.org/oauth2/token"
# c.GenericOAuthenticator.userdata_url = "https://login.example.org/oauth2/userinfo"
# c.GenericOAuthenticator.scope = ["openid", "email", "groups"]
# c.GenericOAuthenticator.username_claim = "email"
# c.GenericOAuthenticator.manage_groups = True
# c.GenericOAuthenticator.auth_state_groups_key = "oauth_user.groups"
# c.GenericOAuthenticator.allowed_groups = {"acm-staff"}
#
# LDAP / Active Directory (pip install jupyterhub-ldapauthenticator):
#   ACM_HUB_AUTHENTICATOR=ldapauthenticator, then here:
# c.LDAPAuthenticator.server_address = "ldaps://ldap.example.org"
# c.LDAPAuthenticator.lookup_dn = True
# c.LDAPAuthenticator.user_search_base = "ou=people,dc=example,dc=org"
# c.LDAPAuthenticator.user_attribute = "sAMAccountName"
# c.LDAPAuthenticator.lookup_dn_search_user = "cn=acm-hub,ou=services,dc=example,dc=org"
# c.LDAPAuthenticator.lookup_dn_search_password = os.environ["LDAP_BIND_PASSWORD"]
# c.LDAPAuthenticator.allowed_groups = ["cn=acm-staff,ou=groups,dc=example,dc=org"]

# -- what each user gets: the read-only dashboard, as the hub's account ------------------------
# The program and store are resolved here, by acm's one path rule from the folder the hub starts
# in, and checked now: a store without metric_values stops the hub with the fix instead of
# failing every login. (With several programs, each program's data_dir should be absolute: the
# user's server runs in its own folder.)
from acm_helpers.core.errors import AcmError  # noqa: E402
from acm_helpers.explorer.serve import ServeSettings, check_inputs  # noqa: E402
from acm_helpers.store.store import find_program, resolve_paths  # noqa: E402

try:
    given = [p for p in env("ACM_PROGRAM", "").split(os.pathsep) if p] or [None]
    programs = [find_program(p)[0].resolve() for p in given]
    data_dir = resolve_paths(programs[0], env("ACM_DATA_DIR"))[2] if len(programs) == 1 else None
    check_inputs(ServeSettings(programs=tuple(programs), data_dir=data_dir))
except AcmError as exc:
    sys.exit(f"ACM dashboard behind JupyterHub: {exc}")

c.JupyterHub.spawner_class = env("ACM_HUB_SPAWNER", "simple")  # see the note at the top
c.SimpleLocalProcessSpawner.home_dir_template = str(state / "users" / "{username}")
acm = Path(sys.executable).with_name("acm")
c.Spawner.cmd = (
    [str(acm)]
    if acm.exists()
    else [sys.executable, "-c", "from acm_helpers.cli import main; main()"]
)
args = ["serve", "--jupyterhub"]
for program in programs:
    args += ["--program", str(program)]
if len(programs) == 1:
    args += ["--data-dir", str(data_dir)]
pool = int(env("ACM_HUB_POOL_SIZE", "1"))
args += ["--pool-size", str(pool)] if pool > 0 else ["--no-preheat"]
c.Spawner.args = args
c.Spawner.default_url = "/"  # the dashboard is the server's only page
# A link to a user's dashboard (/user/<name>/?provider=...) starts it when it is not running
# instead of stopping at JupyterHub's "server not running, start it?" page.
c.JupyterHub.implicit_spawn_seconds = 1

# Memory: each logged-in user's server holds ACM_HUB_POOL_SIZE preheated kernels plus one kernel
# per open page. With many staff, stop idle dashboards with jupyterhub-idle-culler
# (pip install jupyterhub-idle-culler; it reads the activity the hub records from the proxy):
# c.JupyterHub.services = [
#     {"name": "idle-culler", "command": [sys.executable, "-m", "jupyterhub_idle_culler",
#                                         "--timeout=1800"]}
# ]
# c.JupyterHub.load_roles = [
#     {"name": "idle-culler", "services": ["idle-culler"],
#      "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}
# ]
c.Spawner.start_timeout = c.Spawner.http_timeout = int(env("ACM_HUB_START_TIMEOUT", "300"))

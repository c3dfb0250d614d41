"""Sign-in in a real browser against a real OpenID Connect provider on loopback
(``oidc-provider-mock``, started by the test): a viewer signs in and is refused a
promotion (logged with who), signs out; a release manager signs in and promotes, and the
stored event carries the provider's identity.

No request leaves loopback: the provider's pages link a stylesheet on a CDN, which the
browser is answered locally (an empty stylesheet) and any other outside request fails
the test.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect
from rollout_support import SIGN_IN_ACCESS, with_access

from deployready.store import Store
from tests.e2e.conftest import (
    CHROMIUM,
    LOOPBACK_HOSTS,
    Server,
    screenshot,
    start_server,
    stop_server,
    wait_connected,
)

pytestmark = pytest.mark.browser

#: How long a page may take to show something (the machine may be busy).
WAIT = 180_000

#: The one outside address the provider's pages name; answered in the browser, never fetched.
PROVIDER_STYLESHEET = "https://cdn.jsdelivr.net/npm/@picocss/pico@2/css/pico.min.css"

@pytest.fixture
def provider() -> Iterator[str]:
    """A real OpenID Connect provider on a free loopback port, with two users."""
    import werkzeug.serving
    from oidc_provider_mock import User, app

    users = [
        User(sub="viewer-1", claims={"email": "viv@example.com", "email_verified": True,
                                     "name": "Viv Viewer", "groups": ["viewers"]}),
        User(sub="release-manager-1", claims={"email": "rm@example.com",
                                              "email_verified": True, "name": "Rae Manager",
                                              "groups": ["release-managers"]}),
    ]
    server = werkzeug.serving.make_server("127.0.0.1", 0, app(user_claims=users),
                                          threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def signin_server(demo_master: Path, tmp_path: Path, provider: str) -> Iterator[Server]:
    workspace = tmp_path / "ws"
    shutil.copytree(demo_master, workspace)
    with_access(workspace, SIGN_IN_ACCESS)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "e2e-cookie-secret-0123456789abcdef0123456789abcdef"\n'
        'client_id = "deployready"\n'
        'client_secret = "e2e-client-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    srv = start_server(workspace, tmp_path / "streamlit.log",
                       ("--secrets.files", str(secrets)))
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def loopback_page(browser: Any) -> Iterator[Any]:
    """A page whose every request is loopback: the provider's CDN stylesheet is answered
    in the browser; any other outside request is refused and fails the test."""
    outside: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})

    def route(request_route: Any) -> None:
        url = request_route.request.url
        parsed = urlparse(url)
        if parsed.scheme in {"data", "blob", "about"} or parsed.hostname in LOOPBACK_HOSTS:
            request_route.continue_()
        elif url == PROVIDER_STYLESHEET:
            request_route.fulfill(status=200, body="", content_type="text/css")
        else:
            outside.append(url)
            request_route.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.set_default_timeout(WAIT)
    try:
        yield pg
    finally:
        context.close()
    assert not outside, f"the browser tried to leave loopback: {outside[:10]}"


def _sign_in(pg: Any, server: Server, subject: str) -> None:
    pg.goto(server.url)
    wait_connected(pg)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url("**/oauth2/authorize**", timeout=WAIT)
    pg.get_by_role("button", name=subject).click()  # the provider's predefined user
    pg.wait_for_url(f"{server.url}/**", timeout=WAIT)
    wait_connected(pg)


def _rollout(pg: Any, server: Server) -> None:
    pg.goto(f"{server.url}/Rollout")
    wait_connected(pg)
    expect(pg.get_by_text("Gate for the next promotion").first).to_be_visible(timeout=WAIT)


def _store(server: Server) -> Store:
    return Store(server.workspace / "data" / "deployready.db")


def test_sign_in_roles_and_sign_out(signin_server: Server, provider: str,
                                    loopback_page: Any) -> None:
    if not Path(CHROMIUM).exists():  # pragma: no cover - the browser fixture skips first
        pytest.skip("no chromium")
    pg, server = loopback_page, signin_server

    # nothing is shown before signing in
    pg.goto(f"{server.url}/Rollout")
    wait_connected(pg)
    expect(pg.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
    expect(pg.get_by_text("Gate for the next promotion")).to_have_count(0)

    # a viewer: reads, is refused a promotion, and the refusal is logged with who
    _sign_in(pg, server, "viewer-1")
    _rollout(pg, server)
    expect(pg.get_by_text("Signed in as").first).to_contain_text("viv@example.com",
                                                                 timeout=WAIT)
    expect(pg.get_by_text("viv@example.com may not promote").first).to_be_visible(timeout=WAIT)
    assert pg.get_by_label("Workspace").count() == 0  # fixed by the server
    pg.get_by_label("Reason").first.fill("viewer tries")
    pg.get_by_role("button", name="Promote v1.1").first.click()
    expect(pg.get_by_text("Promotion refused.").first).to_be_visible(timeout=WAIT)
    screenshot(pg, "Rollout-viewer-refused")
    [denied] = _store(server).query(
        "SELECT action, target, allowed, actor, channel, identity_json FROM access_log "
        "WHERE allowed = 0")
    who = json.loads(denied["identity_json"])
    assert (denied["action"], denied["target"], denied["actor"]) == \
        ("promote", "v1.1", "viv@example.com")
    assert who["subject"] == "viewer-1" and who["issuer"] == provider
    assert denied["channel"] == "dashboard"
    assert not _store(server).query("SELECT id FROM rollout_events WHERE reason = 'viewer tries'")

    # sign out: through the provider's end-session page, back to the sign-in screen
    pg.get_by_role("button", name="Sign out").click()
    pg.wait_for_url("**/oauth2/end_session**", timeout=WAIT)
    pg.get_by_role("button", name="End session").click()
    pg.wait_for_url(f"{server.url}/**", timeout=WAIT)
    wait_connected(pg)
    expect(pg.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)

    # a release manager: the role allows the promotion; the gate's decision is recorded
    # with the provider's identity
    _sign_in(pg, server, "release-manager-1")
    _rollout(pg, server)
    expect(pg.get_by_text("Acting as").first).to_contain_text(
        "role release-manager (group:release-managers)", timeout=WAIT)
    pg.get_by_label("Reason").first.fill("release manager promotes")
    pg.get_by_role("button", name="Promote v1.1").first.click()
    expect(pg.get_by_text("logged as event").first.or_(pg.get_by_text("Promoted v1.1").first)
           ).to_be_visible(timeout=WAIT)
    screenshot(pg, "Rollout-release-manager")
    [event] = _store(server).query(
        "SELECT version, actor, identity_json FROM rollout_events "
        "WHERE reason = 'release manager promotes'")
    identity = json.loads(event["identity_json"])
    assert event["actor"] == "rm@example.com" and identity["channel"] == "dashboard"
    assert identity["subject"] == "release-manager-1" and identity["issuer"] == provider
    assert identity["provider"] == "default" and identity["email"] == "rm@example.com"
    assert identity["rule"] == "role release-manager (group:release-managers)"
    [allowed] = _store(server).query(
        "SELECT actor, rule FROM access_log WHERE allowed = 1 AND action = 'promote'")
    assert allowed["actor"] == "rm@example.com"

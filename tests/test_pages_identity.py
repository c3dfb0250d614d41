"""AppTest of sign-in and roles in the dashboard: ``st.user`` seeded through AppTest with
an ``[auth]`` section in the secrets (a signed-in release manager, a signed-in viewer,
nobody signed in) and the explicit local mode (no ``[auth]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rollout_support import SIGN_IN_ACCESS, fake_scores, make_workspace, page_texts, with_access
from streamlit.testing.v1 import AppTest

from deployready.access import access_log
from deployready.rollout import events as rollout
from deployready.rollout.events import load_events
from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60
ISSUER = "http://127.0.0.1:9"

AUTH = {"auth": {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-enough-length-0123456789",
    "client_id": "deployready", "client_secret": "s3cret",
    "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration",
}}

def user(email: str, *groups: str) -> dict[str, Any]:
    return {"is_logged_in": True, "sub": f"sub-{email}", "email": email, "iss": ISSUER,
            "provider": "default", "groups": list(groups)}


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = make_workspace(tmp_path / "ws")
    with_access(workspace.root, SIGN_IN_ACCESS)
    monkeypatch.setattr(rollout, "readiness_of", fake_scores(workspace, {"v1.1": True}))
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(workspace.root))
    monkeypatch.setenv("USER", "ops")
    monkeypatch.chdir(REPO)
    return workspace


def _run(script: str, who: dict[str, Any] | None, secrets: dict[str, Any] | None = None
         ) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    if secrets:
        at.secrets = secrets
    if who is not None:
        at.user = who
    at.switch_page(script)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _promote(at: AppTest) -> None:
    next(b for b in at.button if b.label.startswith("Promote v1.1")).click().run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_a_signed_in_release_manager_promotes_as_themselves(ws: Workspace) -> None:
    at = _run("pages/6_Rollout.py", user("rm@example.com", "release-managers"), AUTH)
    text = page_texts(at)
    assert "Signed in as **rm@example.com** (default)" in text
    assert "Acting as **rm@example.com** — role release-manager (group:release-managers)" in text
    assert not [t for t in at.sidebar.text_input if t.label == "Workspace"]  # fixed by the server
    assert str(ws.root) in text
    assert not [t for t in at.text_input if "name" in t.label.lower()]  # no typed names
    _promote(at)
    [event] = load_events(ws)
    assert event.allowed and event.actor == "rm@example.com" and event.channel == "dashboard"
    assert event.identity["subject"] == "sub-rm@example.com"
    assert event.identity["issuer"] == ISSUER and event.identity["provider"] == "default"
    assert event.identity["rule"] == "role release-manager (group:release-managers)"


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_a_signed_in_viewer_is_refused_and_the_refusal_is_logged(ws: Workspace) -> None:
    at = _run("pages/6_Rollout.py", user("viv@example.com", "viewers"), AUTH)
    assert "viv@example.com may not promote" in page_texts(at)  # said before trying
    _promote(at)
    assert any("Promotion refused." in e.value and "viv@example.com may not promote" in e.value
               for e in at.error)
    assert load_events(ws) == []
    [entry] = access_log(ws)
    assert not entry.allowed and entry.actor == "viv@example.com"
    assert entry.identity["subject"] == "sub-viv@example.com" and entry.channel == "dashboard"
    at.run()
    denied = at.dataframe[-1].value
    assert list(denied["who"]) == ["viv@example.com"] and list(denied["action"]) == ["promote"]


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_nothing_is_shown_before_signing_in(ws: Workspace) -> None:
    at = _run("pages/6_Rollout.py", {"is_logged_in": False}, AUTH)
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in to see the release evidence" in page_texts(at)
    assert not at.dataframe and not at.sidebar.selectbox


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_local_mode_banner_and_the_policy_forbidding_it(ws: Workspace) -> None:
    at = _run("pages/6_Rollout.py", None)
    text = page_texts(at)
    assert "**Local mode**" in text and "`local:ops`" in text
    assert 'The policy requires sign-in (`[access] mode = "sign-in"`)' in text
    _promote(at)
    assert any("Promotion refused." in e.value and 'mode = "sign-in"' in e.value
               for e in at.error)
    assert load_events(ws) == [] and access_log(ws)[0].actor == "local:ops"


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_a_viewer_cannot_sign_a_review_off(ws: Workspace) -> None:
    at = _run("pages/7_Monitoring.py", user("viv@example.com", "viewers"), AUTH)
    assert "viv@example.com may not signoff-weekly" in page_texts(at)
    next(b for b in at.button if b.label.startswith("Sign off 20")).click().run()
    assert any("Sign-off refused." in e.value for e in at.error)
    assert access_log(ws)[0].action == "signoff-weekly"


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_a_token_without_a_subject_is_a_visible_error(ws: Workspace) -> None:
    at = _run("pages/6_Rollout.py", {"is_logged_in": True, "email": "x@example.com"}, AUTH)
    assert any("Sign-in failed." in e.value and "subject" in e.value for e in at.error)
    assert not at.dataframe


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_a_viewer_cannot_build_the_demo_in_the_servers_workspace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "deployready.toml").write_text(SIGN_IN_ACCESS)
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(empty))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.secrets = AUTH
    at.user = user("viv@example.com", "viewers")
    at.run()
    next(b for b in at.button if b.label == "Build the demo workspace here").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Building the demo workspace refused." in e.value
               and "viv@example.com may not build-demo" in e.value for e in at.error)
    assert not (empty / "models").exists()
    [entry] = access_log(Workspace.open(empty))
    assert (entry.action, entry.allowed, entry.actor) == ("build-demo", False, "viv@example.com")

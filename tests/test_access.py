"""Identity and roles: the access decision (``deployready.access.may``), its rules in the
policy (``[access]``), and the recording of who acted — rollout events, sign-offs and
the access log, refusals included — with old stores still readable."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollout_support import fake_scores, make_workspace, with_access

from deployready.access import (
    Identity,
    access_log,
    authorize,
    cli_identity,
    local_identity,
    may,
    signed_in_identity,
)
from deployready.errors import AccessDenied, InputError, PolicyError
from deployready.policy import ACCESS_ACTIONS, AccessPolicy, RolePolicy, parse_policy
from deployready.rollout import events as rollout
from deployready.rollout.events import load_events, promote, rollback
from deployready.rollout.signoffs import sign_off, signoff_history
from deployready.store import MIGRATIONS, Store
from deployready.workspace import Workspace

ISSUER = "http://127.0.0.1:9/"

ACCESS = """
[access]
mode = "sign-in"
group_claim = "roles"

[access.roles.release-manager]
members = ["rm@example.com", "group:release-managers"]
may = ["promote", "rollback", "signoff-weekly", "signoff-monthly"]

[access.roles.operator]
members = ["*@ops.example.com", "ci:release-bot"]
may = ["loadtest", "daily", "signoff-weekly"]
"""


def person(email: str, *groups: str, verified: bool = True) -> Identity:
    return signed_in_identity({"sub": f"sub-{email}", "email": email, "iss": ISSUER,
                               "provider": "default", "roles": list(groups),
                               "email_verified": verified}, group_claim="roles")


def access_of(text: str) -> AccessPolicy:
    import tomllib

    return parse_policy(tomllib.loads(text)).access


# --------------------------------------------------------------------------- decision

emails = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(com|org)", fullmatch=True)
names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
channels = st.sampled_from(["local", "cli", "ci", "api"])


@st.composite
def identities(draw: st.DrawFn) -> Identity:
    if draw(st.booleans()):
        return Identity(channel="dashboard", subject=draw(names), email=draw(emails),
                        issuer=ISSUER, groups=tuple(draw(st.lists(names, max_size=3))))
    return Identity(channel=draw(channels), subject=draw(names))


@settings(max_examples=200, deadline=None)
@given(who=identities(), action=st.sampled_from(ACCESS_ACTIONS),
       roles=st.dictionaries(names, st.builds(
           RolePolicy, members=st.lists(emails.map(lambda e: f"x{e}"), min_size=1, max_size=3),
           may=st.lists(st.sampled_from(ACCESS_ACTIONS), min_size=1)), max_size=3))
def test_nobody_without_a_rule_may_act(who: Identity, action: str,
                                       roles: dict[str, RolePolicy]) -> None:
    """In sign-in mode with roles whose members match no one drawn (every member starts
    with an "x" no drawn email has), every identity is refused every action, with a
    reason naming who; the empty policy refuses everyone too."""
    for policy in (AccessPolicy(mode="sign-in", roles=roles), AccessPolicy(mode="sign-in")):
        decision = may(who, action, policy)
        if who.email.startswith("x"):
            continue
        assert not decision.allowed and decision.rule == ""
        assert who.label in decision.reason and action in decision.reason


@settings(max_examples=200, deadline=None)
@given(who=identities(), action=st.sampled_from(ACCESS_ACTIONS))
def test_an_allowed_decision_names_the_rule_that_allowed_it(who: Identity, action: str) -> None:
    policy = AccessPolicy(mode="local", roles={"everyone": RolePolicy(["*"], [action])})
    decision = may(who, action, policy)
    assert decision.allowed
    if who.authenticated:
        assert decision.rule == "role everyone (*)"
    else:
        assert decision.rule == '[access] mode = "local"'


def test_email_wildcard_and_group_rules() -> None:
    policy = access_of(ACCESS)
    assert may(person("rm@example.com"), "promote", policy).rule == \
        "role release-manager (rm@example.com)"
    assert may(person("RM@Example.com"), "promote", policy).allowed  # emails ignore case
    by_group = may(person("eve@example.com", "release-managers"), "rollback", policy)
    assert by_group.allowed and by_group.rule == "role release-manager (group:release-managers)"
    assert may(person("olga@ops.example.com"), "daily", policy).rule == \
        "role operator (*@ops.example.com)"
    refused = may(person("olga@ops.example.com"), "promote", policy)
    assert not refused.allowed
    assert "olga@ops.example.com may not promote" in refused.reason
    assert "release-manager" in refused.reason
    # a group with the right name in another claim, or an unverified email, is nobody
    assert not may(person("eve@example.com", "viewers"), "promote", policy).allowed
    assert not may(person("rm@example.com", verified=False), "promote", policy).allowed
    # both weekly and monthly for release managers, weekly only for operators
    assert may(person("olga@ops.example.com"), "signoff-weekly", policy).allowed
    assert not may(person("olga@ops.example.com"), "signoff-monthly", policy).allowed


def test_local_mode_and_how_sign_in_mode_forbids_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "ops")
    assert local_identity().label == "local:ops" and cli_identity().label == "cli:ops"
    assert cli_identity("release-bot").label == "ci:release-bot"
    assert may(local_identity(), "promote", AccessPolicy()).allowed  # default: local allowed
    forbidden = may(local_identity(), "promote", access_of(ACCESS))
    assert not forbidden.allowed and 'mode = "sign-in"' in forbidden.reason
    assert not may(cli_identity(), "daily", access_of(ACCESS)).allowed
    assert may(cli_identity("release-bot"), "daily", access_of(ACCESS)).rule == \
        "role operator (ci:release-bot)"
    # a signed-in user needs a role even in local mode
    assert not may(person("rm@example.com"), "promote", AccessPolicy()).allowed


def test_identity_needs_a_subject_and_an_actor_needs_a_name() -> None:
    with pytest.raises(InputError, match="subject"):
        signed_in_identity({"email": "a@example.com"})
    with pytest.raises(InputError, match="actor"):
        cli_identity("  ")


@pytest.mark.parametrize(
    ("toml", "location", "expected"),
    [
        ('[access]\nmode = "open"\n', "access.mode", "'sign-in'"),
        ("[access.roles.rm]\nmembers = ['alice']\nmay = ['promote']\n",
         "access.roles.rm.members", "emails"),
        ("[access.roles.rm]\nmembers = ['team:x']\nmay = ['promote']\n",
         "access.roles.rm.members", "group:NAME"),
        ("[access.roles.rm]\nmembers = ['a@b.c']\nmay = ['deploy']\n",
         "access.roles.rm.may", "promote"),
        ("[access.roles.rm]\nmembers = ['a@b.c']\nmay = ['promote']\nextra = 1\n",
         "access.roles.rm.extra", "may, members"),
        ("[access]\ngroup_claim = ''\n", "access.group_claim", "claim name"),
    ],
)
def test_bad_access_policy_names_the_key(toml: str, location: str, expected: str) -> None:
    import tomllib

    with pytest.raises(PolicyError) as info:
        parse_policy(tomllib.loads(toml), source="deployready.toml")
    assert info.value.location == location and expected in str(info.value), str(info.value)


# --------------------------------------------------------------------------- recording


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = make_workspace(tmp_path / "ws")
    with_access(workspace.root, ACCESS)
    monkeypatch.setattr(rollout, "readiness_of", fake_scores(workspace, {"v1.1": True}))
    return workspace


def test_a_promotion_records_the_signed_in_identity_and_the_role(ws: Workspace) -> None:
    result = promote(ws, "v1.1", actor=person("rm@example.com"), reason="canary")
    ev = result.event
    assert result.allowed and ev.actor == "rm@example.com" and ev.channel == "dashboard"
    assert ev.identity["subject"] == "sub-rm@example.com" and ev.identity["issuer"] == ISSUER
    assert ev.identity["rule"] == "role release-manager (rm@example.com)"
    assert load_events(ws)[-1].identity == ev.identity  # as stored
    entry = access_log(ws)[0]
    assert entry.allowed and entry.action == "promote" and entry.target == "v1.1"
    assert entry.actor == "rm@example.com" and entry.rule == ev.identity["rule"]


def test_a_refused_promotion_is_logged_with_who_and_changes_nothing(ws: Workspace) -> None:
    viewer = person("viv@example.com", "viewers")
    with pytest.raises(AccessDenied) as info:
        promote(ws, "v1.1", actor=viewer, reason="let me")
    assert "viv@example.com may not promote" in str(info.value)
    assert load_events(ws) == []  # the rollout did not move
    entry = access_log(ws, ("promote",), refused_only=True)[0]
    assert not entry.allowed and entry.actor == "viv@example.com"
    assert entry.identity["subject"] == "sub-viv@example.com" and entry.channel == "dashboard"
    assert "no role of theirs" in entry.reason
    with pytest.raises(AccessDenied):
        rollback(ws, "v1.1", actor=cli_identity(), reason="incident")
    assert access_log(ws, ("rollback",))[0].actor.startswith("cli:")


def test_sign_offs_record_the_identity_and_refuse_without_the_role(ws: Workspace) -> None:
    today = date(2026, 11, 30)
    signed = sign_off(ws, "weekly", "2026-W47", name=person("olga@ops.example.com"),
                      today=today)
    assert signed.name == "olga@ops.example.com" and signed.channel == "dashboard"
    assert signed.identity and signed.identity["rule"] == "role operator (*@ops.example.com)"
    with pytest.raises(AccessDenied, match="signoff-monthly"):
        sign_off(ws, "monthly", "2026-11", name=person("olga@ops.example.com"), today=today)
    assert [s.period for s in signoff_history(ws)] == ["2026-W47"]
    assert access_log(ws, ("signoff-monthly",))[0].target == "2026-11"


def test_authorize_records_allowed_and_refused_decisions(ws: Workspace) -> None:
    assert authorize(ws, cli_identity("release-bot"), "loadtest", "v1.1").allowed
    assert not authorize(ws, person("rm@example.com"), "daily").allowed
    log = access_log(ws)
    assert [(e.action, e.allowed, e.actor) for e in log] == [
        ("daily", False, "rm@example.com"), ("loadtest", True, "ci:release-bot")]


def test_a_store_from_before_identities_keeps_its_rows(tmp_path: Path) -> None:
    """A version-2 store with typed names migrates; old rows read as they were, with no
    channel, next to new rows that have one."""
    ws = make_workspace(tmp_path / "ws")
    path = ws.store.path
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + ";" + MIGRATIONS[1])
    conn.execute("INSERT INTO rollout_events (created_at, version, action, from_pct, to_pct, "
                 "allowed, actor, reason) VALUES ('2026-11-01T00:00:00+00:00', 'v1.0', "
                 "'promote', 0, 5, 1, 'Typed Name', 'old')")
    conn.execute("INSERT INTO signoffs (kind, period, name, signed_at) VALUES "
                 "('weekly', '2026-W44', 'Ana', '2026-11-01T00:00:00+00:00')")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    old = load_events(Workspace.open(ws.root))[0]
    assert old.actor == "Typed Name" and old.channel == "" and old.identity == {}
    assert signoff_history(ws)[0].name == "Ana" and signoff_history(ws)[0].channel == ""
    new = sign_off(ws, "weekly", "2026-W45", name=cli_identity("bot"),
                   today=datetime.now(UTC).date())
    assert new.channel == "ci" and access_log(ws)[0].actor == "ci:bot"
    assert Store(path).query("PRAGMA user_version")[0][0] == len(MIGRATIONS)


def test_roles_are_written_and_read_back() -> None:
    import tomllib

    from deployready.policy import Policy, policy_to_toml

    policy = parse_policy(tomllib.loads(ACCESS))
    assert parse_policy(tomllib.loads(policy_to_toml(policy))) == policy
    assert parse_policy(tomllib.loads(policy_to_toml(Policy()))) == Policy()


# --------------------------------------------------------------------------- command line


def test_the_cli_records_its_channel_and_refuses_without_a_role(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from deployready.cli import main

    monkeypatch.setenv("USER", "ops")
    root = str(ws.root)
    # sign-in mode: cli:ops has no role; ci:release-bot is an operator, not a promoter
    assert main(["rollout", "promote", "-w", root, "--version", "v1.1"]) == 1
    assert "cli:ops may not promote" in capsys.readouterr().err
    assert main(["rollout", "promote", "-w", root, "--actor", "release-bot"]) == 1
    # daily checks and load tests are refused before anything runs
    assert main(["daily", "-w", root, "--version", "v1.1"]) == 1
    assert main(["loadtest", "-w", root, "--version", "v1.1"]) == 1
    assert [(e.action, e.actor) for e in access_log(ws)[:2]] == [
        ("loadtest", "cli:ops"), ("daily", "cli:ops")]
    assert [(e.actor, e.channel, e.allowed) for e in access_log(ws)[2:]] == [
        ("ci:release-bot", "ci", False), ("cli:ops", "cli", False)]
    assert main(["signoff", "-w", root, "--kind", "weekly", "--name", "release-bot"]) == 0
    assert "by ci:release-bot" in capsys.readouterr().out
    assert main(["reviews", "-w", root, "--days", "1"]) in (0, 1)  # 1: a period is overdue
    assert "signed off by ci:release-bot (ci) at" in capsys.readouterr().out
    [signed] = signoff_history(ws)
    assert signed.channel == "ci" and signed.identity and signed.identity["rule"] == \
        "role operator (ci:release-bot)"


def test_the_cli_in_local_mode_records_the_os_user(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from deployready.cli import main

    workspace = make_workspace(tmp_path / "local")
    monkeypatch.setattr(rollout, "readiness_of", fake_scores(workspace, {"v1.1": True}))
    monkeypatch.setenv("USER", "ops")
    assert main(["rollout", "promote", "-w", str(workspace.root), "--version", "v1.1"]) == 0
    assert main(["rollout", "log", "-w", str(workspace.root)]) == 0
    assert "by cli:ops (cli)" in capsys.readouterr().out
    [event] = load_events(workspace)
    assert event.actor == "cli:ops" and event.identity["rule"] == '[access] mode = "local"'

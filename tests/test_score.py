"""Score maths: weights, READY only when every check passes, blockers gate-first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deployready.checks import CATEGORY_ORDER, Category, Check, Evidence, Status
from deployready.score import NOT_READY, READY, CategoryScore, Readiness

statuses = st.sampled_from(list(Status))


def _check(category: Category, i: int, status: Status) -> Check:
    return Check(
        name=f"{category}-{i}",
        category=category,
        status=status,
        value=None,
        threshold="",
        message="",
    )


@st.composite
def readiness(draw: st.DrawFn) -> Readiness:
    cats = []
    for category in CATEGORY_ORDER:
        weight = draw(st.floats(0, 100, allow_nan=False))
        checks = [
            _check(category, i, s) for i, s in enumerate(draw(st.lists(statuses, max_size=8)))
        ]
        cats.append(CategoryScore(name=category, label=str(category), weight=weight, checks=checks))
    return Readiness(version="v1.0", package_sha256="x", categories=cats)


@given(readiness())
def test_score_is_weighted_share_of_passes(r: Readiness) -> None:
    expected = sum(c.weight * c.passed / c.total for c in r.categories if c.total)
    assert abs(r.score - expected) < 1e-9
    assert 0 <= r.score <= r.max_score + 1e-9


@given(readiness())
def test_ready_only_when_every_check_passes(r: Readiness) -> None:
    all_pass = bool(r.checks) and all(c.status is Status.PASS for c in r.checks)
    assert r.ready == all_pass
    assert r.status == (READY if all_pass else NOT_READY)
    if r.ready:
        assert abs(r.score - r.max_score) < 1e-6 or any(c.total == 0 for c in r.categories)


@given(readiness())
def test_pending_and_stale_never_count(r: Readiness) -> None:
    for cat in r.categories:
        assert cat.passed == sum(1 for c in cat.checks if c.status is Status.PASS)
    assert all(c.status is not Status.PASS for c in r.blockers)


@given(readiness())
def test_blockers_gate_first(r: Readiness) -> None:
    order = [CATEGORY_ORDER.index(c.category) for c in r.blockers]
    assert order == sorted(order)
    assert len(r.blockers) == sum(1 for c in r.checks if not c.passed)


def test_no_checks_is_not_ready() -> None:
    r = Readiness(
        version="v1.0",
        package_sha256=None,
        categories=[
            CategoryScore(name=c, label=str(c), weight=25, checks=[]) for c in CATEGORY_ORDER
        ],
    )
    assert not r.ready
    assert r.score == 0


def test_as_dict_contract() -> None:
    cats = [
        CategoryScore(
            name=c, label=str(c), weight=w, checks=[_check(c, 0, Status.PASS), _check(c, 1, s)]
        )
        for c, w, s in zip(
            CATEGORY_ORDER,
            (40, 20, 20, 20),
            (Status.PASS, Status.FAIL, Status.PENDING, Status.STALE),
            strict=True,
        )
    ]
    d = Readiness(version="v1.1", package_sha256="abc", categories=cats).as_dict()
    assert set(d) >= {"status", "score", "version", "package_sha256", "categories", "blockers"}
    assert d["status"] == NOT_READY
    assert d["score"] == 40 + 10 + 10 + 10
    assert [b["category"] for b in d["blockers"]] == ["artifacts", "load_test", "latency"]
    check = d["categories"][0]["checks"][0]
    assert set(check) >= {"name", "status", "value", "threshold", "evidence"}


def test_the_summary_is_the_verdict_without_the_categories() -> None:
    evidence = Evidence("history.csv", detail={"green": {f"run-{i}": True for i in range(50)}})
    checks = [Check("roc_auc", Category.CERTIFICATION, Status.PASS, 0.9, ">= 0.8", "ok",
                    evidence),
              Check("streak", Category.CERTIFICATION, Status.FAIL, 1, ">= 3", "red", evidence)]
    readiness = Readiness("v1.0", "abc", [CategoryScore(Category.CERTIFICATION, "Cert", 100.0,
                                                        checks)], errors=("x.csv: bad",))
    whole = readiness.as_dict()
    summary = readiness.as_dict(categories=False)
    assert "categories" not in summary and whole.pop("categories")
    assert summary == whole
    assert summary["blockers"] == [checks[1].as_dict()] and summary["status"] == "NOT READY"

"""``Check.as_dict``: exactly what ``dataclasses.asdict`` gives (category and status as
text), and cheap for evidence that carries a whole history (a streak's 10,000 runs)."""

from __future__ import annotations

import copy
from collections import namedtuple
from dataclasses import asdict, dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.checks import Category, Check, Evidence, Status

Pair = namedtuple("Pair", "a b")


@dataclass(frozen=True)
class Inner:
    label: str
    values: list[float]


def _reference(check: Check) -> dict[str, Any]:
    data = asdict(check)
    data["category"] = str(check.category)
    data["status"] = str(check.status)
    return data


atoms = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                  st.text(max_size=5), st.sampled_from(list(Status)))
details = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
        st.tuples(inner, inner),
        st.builds(Pair, inner, inner),
        st.builds(Inner, st.text(max_size=3), st.lists(st.floats(), max_size=3)),
    ),
    max_leaves=20,
)
checks = st.builds(
    Check,
    name=st.text(max_size=8),
    category=st.sampled_from(list(Category)),
    status=st.sampled_from(list(Status)),
    value=st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=4),
                    st.booleans()),
    threshold=st.text(max_size=8),
    message=st.text(max_size=8),
    evidence=st.one_of(st.none(), st.builds(
        Evidence, source=st.text(max_size=8), time=st.one_of(st.none(), st.text(max_size=8)),
        package_sha256=st.one_of(st.none(), st.text(max_size=8)),
        detail=st.dictionaries(st.text(max_size=4), details, max_size=4))),
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and the same types throughout."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(check=checks)
def test_as_dict_is_asdict(check: Check) -> None:
    got = check.as_dict()
    assert _same(got, _reference(check))
    if check.evidence is not None:  # a copy: changing it leaves the check as it was
        got["evidence"]["detail"]["added"] = 1
        assert "added" not in check.evidence.detail


def test_as_dict_of_a_long_streak_walks_plain_values_directly(monkeypatch: Any) -> None:
    """A streak's 10,000 runs are plain values: none goes through the generic copy that
    ``dataclasses.asdict`` makes of every leaf (its cost on the gate's score summary)."""
    green = {f"run-{i:05d}": i % 7 != 0 for i in range(10_000)}
    check = Check("streak", Category.CERTIFICATION, Status.FAIL, 3, ">= 5", "3 green",
                  Evidence("history.csv", detail={"run_id": "run-09999", "green": green}))
    reference = _reference(check)
    copied: list[object] = []
    real = copy.deepcopy

    def counting(obj: Any, memo: Any = None) -> Any:
        copied.append(obj)
        return real(obj, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    assert check.as_dict() == reference
    assert all(isinstance(obj, Category | Status) for obj in copied), copied[:5]
    copied.clear()
    _reference(check)  # the generic walk, as a control: it does copy every leaf
    assert len(copied) >= 10_000

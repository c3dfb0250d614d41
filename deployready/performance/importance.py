"""Feature-importance stability: does the model still lean on the same features?

SHAP importance (mean |SHAP| per feature, by the package's own explainer code,
:func:`~deployready.package.explain.explain_model`) on a seeded sample of at most
``performance.importance_sample_rows`` production rows of a week, compared with the
``global_importance`` of the package's ``explainability_report.json``:

- **rank correlation**: Spearman's ρ (``scipy.stats.spearmanr``) of the two importances
  over the schema's features; ``pass`` when ρ >= ``min_rank_correlation``;
- **top-k overlap**: the share of the package's top ``importance_top_k`` features that
  are among the production top k; ``pass`` when >= ``min_top_k_overlap``.

No production rows: both ``pending``. Importances that are all equal on one side leave ρ
undefined: ``fail`` with a finding that says so (the model no longer tells the features
apart).

With a ``cache_root`` (the workspace), the production importances are kept across
processes in its cache folder (``importance-<key>.json``), keyed by the package's hash,
a hash of the sample's values and the explainer's settings: the same package on the same
sample is not explained again; any other sample is. An entry that cannot be parsed or
does not hold the key it is stored under is computed again and rewritten.
:func:`keep_importance` / :func:`kept_importance` keep the same numbers under a key of
where a sample was drawn from instead (the week's days and their profile revisions,
:func:`deployready.performance.sources.week_importance`), so a fresh process finds them
without reading the week's rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from scipy import stats

from deployready.checks import Category, Check, Evidence, Status, pass_fail
from deployready.memo import cache_path, keep_newest, used, write_atomic
from deployready.package.explain import explain_model
from deployready.package.manifest import SHAP_FILE, read_json_file
from deployready.policy.sections import PerformancePolicy

#: seconds the SHAP explainer may spend on one week's sample
TIME_BUDGET_S = 20.0
#: kept importance entries (the most recently used stay: a week whose newest day still
#: grows gets a new key at each ingest)
KEPT_ENTRIES = 64


@dataclass(frozen=True)
class ImportanceStability:
    reference: dict[str, float]  # the package's importances
    production: dict[str, float]  # on the production sample ({} without rows)
    rows_explained: int
    rank_correlation: float | None
    top_k_overlap: float | None
    checks: list[Check] = field(default_factory=list)


def _top(importance: dict[str, float], k: int) -> set[str]:
    return {f for f, _ in sorted(importance.items(), key=lambda kv: (-kv[1], kv[0]))[:k]}


def compare_importance(
    reference: dict[str, float], production: dict[str, float], k: int
) -> tuple[float | None, float]:
    """(Spearman ρ or None when undefined, top-k overlap) over the reference's features."""
    features = list(reference)
    a = np.array([reference[f] for f in features])
    b = np.array([production.get(f, 0.0) for f in features])
    k = min(k, len(features))
    overlap = len(_top(reference, k) & _top({f: production.get(f, 0.0) for f in features}, k)) / k
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, overlap
    rho = float(stats.spearmanr(a, b).statistic)
    return rho, overlap


def importance_stability(
    package: Any, rows: pd.DataFrame, policy: PerformancePolicy, *, seed: int = 0,
    cache_root: str | Path | None = None,
) -> ImportanceStability:
    """Stability of ``package``'s (a loaded package) importances on production ``rows``
    (serving-schema feature rows of a week); ``cache_root``: see the module doc."""
    reference = _reference(package)
    if len(rows) == 0:
        result = ImportanceStability(reference, {}, 0, None, None)
        result.checks.extend(_checks(result, policy, "no production rows this week"))
        return result
    key = _sample_key(package, rows, policy, seed)
    entry = cache_path(cache_root, f"importance-{key[:32]}.json") if cache_root else None
    kept = _read_entry(entry, key) if entry is not None else None
    if kept is None:
        report = explain_model(
            package.model, package.scaler, rows[package.features], features=package.features,
            max_rows=policy.importance_sample_rows, time_budget_s=TIME_BUDGET_S, seed=seed,
            n_local=1,
        )
        kept = ({str(f): float(v) for f, v in report["global_importance"].items()},
                int(report["n_rows_explained"]))
        if entry is not None:
            _write_entry(entry, key, *kept)
    return _stability(reference, *kept, policy)


def _reference(package: Any) -> dict[str, float]:
    """The package's own importances (its explainability report)."""
    return {
        str(f): float(v)
        for f, v in read_json_file(package.path, SHAP_FILE)["global_importance"].items()
    }


def _stability(reference: dict[str, float], production: dict[str, float], explained: int,
               policy: PerformancePolicy) -> ImportanceStability:
    rho, overlap = compare_importance(reference, production, policy.importance_top_k)
    result = ImportanceStability(reference, production, explained, rho, overlap)
    result.checks.extend(_checks(result, policy, None))
    return result


def kept_importance(package: Any, policy: PerformancePolicy, key: str,
                    cache_root: str | Path) -> ImportanceStability | None:
    """The stability kept under ``key`` (a hash of where the rows came from, see
    :func:`keep_importance`); None when absent or unusable."""
    kept = _read_entry(cache_path(cache_root, f"importance-{key[:32]}.json"), key)
    return None if kept is None else _stability(_reference(package), *kept, policy)


def keep_importance(result: ImportanceStability, key: str, cache_root: str | Path) -> None:
    """Keep ``result``'s production importances under ``key``: a hash of everything the
    rows explained were drawn from (not of their values), so the next report finds them
    without reading the rows. A result without production rows is not kept."""
    if result.production:
        _write_entry(cache_path(cache_root, f"importance-{key[:32]}.json"), key,
                     result.production, result.rows_explained)


def _sample_key(package: Any, rows: pd.DataFrame, policy: PerformancePolicy, seed: int) -> str:
    """A hash of what the production importances depend on."""
    sample = rows[package.features]
    digest = hashlib.sha256()
    digest.update(json.dumps([package.sha256, list(map(str, sample.columns)),
                              [str(t) for t in sample.dtypes], policy.importance_sample_rows,
                              TIME_BUDGET_S, seed, len(sample)]).encode())
    digest.update(pd.util.hash_pandas_object(sample, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _read_entry(path: Path, key: str) -> tuple[dict[str, float], int] | None:
    """The kept (importances, rows explained) of ``key``; None when absent or unusable."""
    try:
        data = json.loads(path.read_text())
        production, explained = data["production"], data["rows_explained"]
        ok = (data["key"] == key and isinstance(production, dict) and type(explained) is int
              and all(isinstance(v, float) and math.isfinite(v) for v in production.values()))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not ok:
        return None
    used(path)
    return {str(f): float(v) for f, v in production.items()}, explained


def _write_entry(path: Path, key: str, production: dict[str, float], explained: int) -> None:
    """Write the entry; the :data:`KEPT_ENTRIES` most recently used ones stay."""
    text = json.dumps({"key": key, "production": production, "rows_explained": explained})

    def write(out: IO[bytes]) -> None:
        out.write(text.encode())

    if write_atomic(path, write):
        keep_newest(path.parent, "importance-*.json", KEPT_ENTRIES)


def _checks(result: ImportanceStability, policy: PerformancePolicy, why: str | None) -> list[Check]:
    k = policy.importance_top_k
    detail = {"rows_explained": result.rows_explained, "top_k": k,
              "reference": result.reference, "production": result.production}
    evidence = Evidence("explainability_report.json + production sample (SHAP)", detail=detail)
    if why is not None:
        return [Check(name, Category.PERFORMANCE, Status.PENDING, None, rule, why, evidence)
                for name, rule in (
                    ("importance_rank_correlation", f">= {policy.min_rank_correlation:g}"),
                    ("importance_top_k_overlap", f">= {policy.min_top_k_overlap:g}"))]
    rho, overlap = result.rank_correlation, result.top_k_overlap
    assert overlap is not None
    rho_ok = rho is not None and rho >= policy.min_rank_correlation
    rho_text = ("Spearman ρ undefined: the importances are all equal on one side" if rho is None
                else f"Spearman ρ {rho:.3f} between production and package importances")
    return [
        Check("importance_rank_correlation", Category.PERFORMANCE, pass_fail(rho_ok), rho,
              f">= {policy.min_rank_correlation:g}",
              f"{rho_text} ({result.rows_explained} rows explained)", evidence),
        Check("importance_top_k_overlap", Category.PERFORMANCE,
              pass_fail(overlap >= policy.min_top_k_overlap), overlap,
              f">= {policy.min_top_k_overlap:g}",
              f"{round(overlap * min(k, len(result.reference)))} of the package's top {k} "
              f"features are in production's top {k}", evidence),
    ]

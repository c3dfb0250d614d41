"""Artifacts: package versions, validation, schema diff, SHAP importance, model card, manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui
from deployready.charts.readiness import feature_bars
from deployready.checks import pass_fail, status_glyph
from deployready.package.checks import package_signature, signature_counts
from deployready.package.manifest import read_json_file, read_metadata
from deployready.package.validate import validate_package
from deployready.package.versioning import schema_change
from deployready.stacks.links import mlflow_links, package_link

ui.setup_page("Artifacts", "📦")
ws, version = ui.sidebar()
st.title("📦 Artifacts")
ui.require_versions(ws)
assert version is not None
versions = ws.versions()
policy = ui.policy_or_stop(ws)


def _meta(v: str) -> dict[str, Any]:
    return ui.guarded(lambda: read_metadata(ws.package_path(v)), f"Reading {v} metadata") or {}


links = ui.guarded(lambda: mlflow_links(ws.history_path(), policy),
                   "Reading the MLflow links of the certification history") or {}
st.markdown("### Versions")
reports = {v: validate_package(ws.package_path(v), deep=False) for v in versions}
metas = {v: _meta(v) if reports[v].valid else {} for v in versions}
mlflow = {v: package_link(metas[v], links) for v in versions}
rows = []
for v in versions:
    report, meta = reports[v], metas[v]
    rows.append(
        {
            "version": v,
            "valid": status_glyph(pass_fail(report.valid)),
            "bump": meta.get("bump", ""),
            "created": meta.get("created_at", ""),
            "run": meta.get("run_id", ""),
            **({"MLflow run": mlflow[v].get("mlflow_run_id", ""),
                "MLflow model": mlflow[v].get("mlflow_model_uri", "")}
               if any(mlflow.values()) else {}),
            "model": str(meta.get("model_class", "")).rsplit(".", 1)[-1],
            "sha256": (report.sha256 or "")[:16],
            "problems": "; ".join(
                f"{f.file}: {f.message}" for f in report.findings if f.severity == "error"
            ),
        }
    )
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
st.caption("Listing verifies files against each MANIFEST.json without unpickling anything.")

path: Path = ws.package_path(version)
st.markdown(f"### {version} — validation")
signing = policy.signing
signature = package_signature(path, signing, ws.root)
signature_checked = signature_counts(signature, signing)
# the signature first: nothing is unpickled from a package whose signature fails
deep = validate_package(path, deep=not signature_checked or signature.verified)
if signature.verified:
    st.success(f"🔏 {signature.message}. Key fingerprint `{signature.key_fingerprint}`.")
elif signature_checked:
    st.error(f"🔏 Not signed by a trusted key: {signature.message.rstrip('.')}. Nothing of "
             f"{version} was unpickled; it cannot be loaded or deployed.")
else:
    st.info(f"🔏 {signature.message} The policy does not require a signature "
            "(`[signing] required = false`).")
refused = signature_checked and not signature.verified  # said above
if deep.valid and not refused:
    st.success(
        f"{version} is valid: every file matches its manifest hash, the schema matches the model."
    )
elif not deep.valid:
    st.error(f"{version} is INVALID — it cannot be loaded or deployed.")
if deep.findings:
    st.dataframe(
        pd.DataFrame(
            [
                {"severity": f.severity, "code": f.code, "file": f.file, "message": f.message}
                for f in deep.findings
            ]
        ),
        hide_index=True,
        width="stretch",
    )

st.markdown("### Schema diff")
if len(versions) >= 2:
    c1, c2 = st.columns(2)
    base_index = max(0, versions.index(version) - 1)
    a = c1.selectbox("From", versions, index=base_index, key="diff_a")
    b = c2.selectbox("To", versions, index=versions.index(version), key="diff_b")
    sa = ui.guarded(
        lambda: read_json_file(ws.package_path(a), "feature_schema.json"), f"Reading {a} schema"
    )
    sb = ui.guarded(
        lambda: read_json_file(ws.package_path(b), "feature_schema.json"), f"Reading {b} schema"
    )
    if sa is not None and sb is not None:
        change = schema_change(a, b, sa, sb)
        if change.bump is None:
            st.success(change.explanation)
        else:
            st.warning(change.explanation)
        if change.rows:
            st.dataframe(pd.DataFrame(change.rows), hide_index=True, width="stretch")
else:
    st.caption("Only one version: nothing to compare.")

st.markdown("### Explainability (SHAP)")
shap_report = ui.guarded(
    lambda: read_json_file(path, "explainability_report.json"), "Reading the SHAP report"
)
if shap_report:
    importance = {str(k): float(v) for k, v in shap_report.get("global_importance", {}).items()}
    st.caption(
        f"Explainer: {shap_report.get('explainer')} · output: {shap_report.get('model_output')} · "
        f"base value {shap_report.get('base_value')} · "
        f"rows explained {shap_report.get('n_rows_explained')} · "
        f"additivity error {shap_report.get('additivity_max_error')}"
    )
    ui.chart(
        feature_bars(importance, title="Global importance (mean |SHAP|)", xaxis="mean |SHAP|"),
        key="shap",
    )
    local = shap_report.get("local_explanations", [])
    if local:
        with st.expander("Local explanations (sample rows)"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "row": e.get("row"),
                            "prediction": e.get("prediction"),
                            **e.get("contributions", {}),
                        }
                        for e in local
                    ]
                ),
                hide_index=True,
                width="stretch",
            )

st.markdown("### Model card")
card = path / "README.md"
if card.exists():
    with st.container(border=True):
        st.markdown(card.read_text(encoding="utf-8", errors="replace"))
else:
    st.error(f"{card} is missing.")

st.markdown("### Manifest")
manifest = ui.guarded(lambda: read_json_file(path, "MANIFEST.json"), "Reading the manifest")
if manifest:
    files = manifest.get("files", {})
    st.dataframe(
        pd.DataFrame(
            [
                {"file": n, "size": m.get("size"), "sha256": m.get("sha256")}
                for n, m in files.items()
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    with st.expander("MANIFEST.json"):
        # a JSON tree: st.code would load the browser's 1.5 MB syntax highlighter for it
        st.json(manifest, expanded=True)

"""The model card of a package: its ``README.md``, rendered in Markdown from the metadata,
the SHAP report and the file list."""

from __future__ import annotations

from typing import Any

#: The sections of every model card, in order (the Artifacts check asks for each).
CARD_SECTIONS: tuple[str, ...] = (
    "Model details",
    "Intended use",
    "Training data",
    "Metrics",
    "Explainability",
    "Limitations",
    "Version",
    "Files",
)
(MODEL_DETAILS, INTENDED_USE, TRAINING_DATA, METRICS, EXPLAINABILITY, LIMITATIONS, VERSION,
 FILES) = CARD_SECTIONS

_CARD_TEXT: dict[str, str] = {
    "intended_use": (
        "Scoring individual records of the feature schema below to estimate the probability "
        "of the positive class, behind the serving path of this package (`predict`)."
    ),
    "out_of_scope": (
        "Records outside the training schema or ranges; decisions made without human review "
        "where the cost of an error is high."
    ),
    "limitations": (
        "- Trained on historical data: performance degrades when the input distribution drifts "
        "(monitored against `reference_profile.json`).\n"
        "- Categories not seen in training are ignored by the encoder.\n"
        "- SHAP values explain the model, not causal effects in the world."
    ),
}


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(f"- {v}" for v in value)
    return str(value)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def render_model_card(
    metadata: dict[str, Any],
    shap_report: dict[str, Any],
    files: dict[str, dict[str, Any]],
    card: dict[str, Any] | None = None,
    reason: str = "",
) -> str:
    """``README.md`` of a package: a Markdown model card.

    ``card`` may override ``intended_use``, ``out_of_scope`` and ``limitations`` and add
    ``owners``; any other key becomes an extra section.
    """
    card = dict(card or {})  # each section takes its keys out; the rest are extra sections
    lines = _details(metadata, card)
    lines += _intended_use(card)
    lines += _training_data(metadata)
    lines += _metrics(metadata)
    lines += _explainability(shap_report)
    lines += _limitations(card)
    for key, value in card.items():
        lines += [f"## {str(key).replace('_', ' ').capitalize()}", "", _text(value), ""]
    lines += _version_and_files(metadata, files, reason)
    return "\n".join(lines)


def _details(metadata: dict[str, Any], card: dict[str, Any]) -> list[str]:
    version = metadata.get("version", "?")
    lines = [f"# Model card — {version}", ""]
    if metadata.get("description"):
        lines += [str(metadata["description"]), ""]
    lines += [
        f"## {MODEL_DETAILS}",
        "",
        f"- Version: **{version}** (bump: {metadata.get('bump')}, previous: "
        f"{metadata.get('previous') or 'none'})",
        f"- Model: `{metadata.get('model_class')}`; "
        f"preprocessing: `{metadata.get('scaler_class')}`",
        f"- Created: {metadata.get('created_at')}; training run: {metadata.get('run_id') or '—'}",
        f"- Output: probability of class 1 of `{metadata.get('target')}`",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in metadata.get("libraries", {}).items()),
    ]
    link = metadata.get("mlflow")
    if isinstance(link, dict) and link.get("model_uri"):
        lines.append(f"- From MLflow: model `{link['model_uri']}`, run `{link.get('run_id')}`")
    if card.get("owners"):
        lines.append(f"- Owners: {_text(card.pop('owners'))}")
    return lines


def _intended_use(card: dict[str, Any]) -> list[str]:
    return [
        "",
        f"## {INTENDED_USE}",
        "",
        _text(card.pop("intended_use", _CARD_TEXT["intended_use"])),
        "",
        "Out of scope:",
        "",
        _text(card.pop("out_of_scope", _CARD_TEXT["out_of_scope"])),
        "",
    ]


def _training_data(metadata: dict[str, Any]) -> list[str]:
    data = metadata.get("training_data", {})
    period = data.get("period") or {}
    return [
        f"## {TRAINING_DATA}",
        "",
        f"- Rows: {data.get('rows')}; features: {len(metadata.get('features', []))}",
        f"- Period: {period.get('start', '—')} to {period.get('end', '—')}"
        + (f" (column `{period['column']}`)" if period.get("column") else ""),
        f"- Data hash (pandas row hash, SHA-256): `{data.get('sha256')}`",
        f"- Feature schema hash: `{metadata.get('schema_sha256')}`",
        "",
    ]


def _metrics(metadata: dict[str, Any]) -> list[str]:
    lines = [f"## {METRICS}", ""]
    metrics = metadata.get("metrics") or {}
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
    else:
        lines.append("No metrics were supplied with this package.")
    return lines


def _explainability(shap_report: dict[str, Any]) -> list[str]:
    importance = shap_report.get("global_importance", {})
    lines = [
        "",
        f"## {EXPLAINABILITY}",
        "",
        f"Top features by mean |SHAP| ({shap_report.get('explainer')}, output "
        f"{shap_report.get('model_output')}, {shap_report.get('n_rows_explained')} rows):",
        "",
        "| rank | feature | mean abs SHAP |",
        "|---|---|---|",
    ]
    lines += [
        f"| {i} | {k} | {_fmt(v)} |" for i, (k, v) in enumerate(list(importance.items())[:10], 1)
    ]
    return lines


def _limitations(card: dict[str, Any]) -> list[str]:
    return [
        "",
        f"## {LIMITATIONS}",
        "",
        _text(card.pop("limitations", _CARD_TEXT["limitations"])),
        "",
    ]


def _version_and_files(
    metadata: dict[str, Any], files: dict[str, dict[str, Any]], reason: str
) -> list[str]:
    version = metadata.get("version", "?")
    lines = [
        f"## {VERSION}",
        "",
        f"{version}: {metadata.get('bump')} — {reason}." if reason else f"{version}.",
        "The version is derived from the previous package, never typed by hand.",
        "",
        f"## {FILES}",
        "",
        "| file | sha256 | bytes |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | `{e['sha256']}` | {e['size']} |" for n, e in files.items()]
    lines += [
        "",
        "`README.md` is hashed in `MANIFEST.json`, written last; the package "
        "hash is the SHA-256 of `MANIFEST.json`.",
        "",
    ]
    return lines

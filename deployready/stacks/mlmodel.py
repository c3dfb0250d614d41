"""MLflow's ``MLmodel`` file for a pyfunc model, written without MLflow installed.

The file is YAML; every string is written JSON-quoted (a valid YAML double-quoted
scalar), so no value can change meaning. The signature follows MLflow's column-based
schema: one column per feature of the package's schema, in its order.
"""

from __future__ import annotations

import json
from typing import Any

#: The positive-class probability, one float64 per row (what the package predicts).
OUTPUT_SPEC = [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]


def column_type(spec: dict[str, Any]) -> str:
    """MLflow's column type for a feature of ``feature_schema.json``."""
    if spec.get("kind") == "numeric":
        return "long" if spec.get("dtype") == "int" and not spec.get("nullable") else "double"
    return "boolean" if spec.get("dtype") == "bool" else "string"


def signature(schema: dict[str, Any]) -> dict[str, str]:
    inputs = [{"type": column_type(f), "name": str(f["name"]), "required": True}
              for f in schema["features"]]
    return {"inputs": json.dumps(inputs), "outputs": json.dumps(OUTPUT_SPEC)}


def _yaml(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            lines.extend(_yaml(item, indent + 1))
        else:
            lines.append(f"{pad}{key}: {json.dumps(item)}")
    return lines


def mlmodel_text(*, loader_module: str, data: str, code: str, python_version: str,
                 signature: dict[str, str], metadata: dict[str, Any], created: str,
                 uuid: str) -> str:
    """The ``MLmodel`` of a pyfunc model loaded by ``loader_module._load_pyfunc(data)``,
    with ``code`` on the import path."""
    document = {
        "flavors": {
            "python_function": {
                "loader_module": loader_module,
                "data": data,
                "code": code,
                "env": {"virtualenv": "python_env.yaml"},
                "python_version": python_version,
            },
        },
        "model_uuid": uuid,
        "utc_time_created": created,
        "signature": signature,
        "metadata": metadata,
    }
    return "\n".join(_yaml(document, 0)) + "\n"

"""What an export records about its model besides the hashes: the training period, the
metrics computed on a labelled holdout when none are given, the library versions.
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd


def period(train: pd.DataFrame) -> dict[str, str]:
    for name in train.columns:
        if pd.api.types.is_datetime64_any_dtype(train[name]) and train[name].notna().any():
            return {
                "column": str(name),
                "start": str(train[name].min()),
                "end": str(train[name].max()),
            }
    return {}


def auto_metrics(
    holdout: pd.DataFrame | None, target: str, proba: np.ndarray | None
) -> dict[str, float]:
    if holdout is None or proba is None or target not in holdout.columns:
        return {}
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = holdout[target].to_numpy()
    if len(np.unique(y)) != 2:
        return {}
    return {
        "roc_auc": float(roc_auc_score(y, proba)),
        "average_precision": float(average_precision_score(y, proba)),
        "brier": float(brier_score_loss(y, proba)),
    }


def libraries() -> dict[str, str]:
    import platform

    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }

"""Serving stacks: a verified package exported for MLflow, MLServer and BentoML, and
MLflow as a source of certification runs."""

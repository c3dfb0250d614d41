"""The version of deployready (also in pyproject.toml)."""

__version__ = "0.1.0"

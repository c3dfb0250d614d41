"""deployready: can this model version go to production, and if not, what is missing?"""

__version__ = "0.1.0"

"""deployready: can this model version go to production, and if not, what is missing?"""

from deployready.version import __version__ as __version__

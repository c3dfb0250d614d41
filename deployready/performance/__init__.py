"""Production performance: is the model still right?

- :mod:`~deployready.performance.labels`: ground-truth label files, strictly read;
- :mod:`~deployready.performance.join`: labels joined to the logged predictions;
- :mod:`~deployready.performance.frame`: the joined frame (predictions with their labels)
  every computation here reads, and its checks;
- :mod:`~deployready.performance.realized`: certification metrics per prediction day on
  the labelled rows (:mod:`~deployready.performance.sorted_day`: one sort per day, the
  figures equal to scikit-learn's), with intervals
  (:mod:`~deployready.performance.intervals`; the bootstrap's draws:
  :mod:`~deployready.performance.resample`);
- :mod:`~deployready.performance.estimated`: CBPE, expected metrics before the labels
  arrive, from scores calibrated on the package's labelled holdout;
- :mod:`~deployready.performance.importance`: SHAP importance stability;
- :mod:`~deployready.performance.retrain`: the retrain recommendation;
- :mod:`~deployready.performance.api`: :func:`performance_report`, all of it for a version.
"""

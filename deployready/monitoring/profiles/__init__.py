"""Mergeable hourly profiles of the production logs: the monitoring evidence.

A profile holds, for one (version, package hash, UTC hour), integer counts only — rows,
errors by kind, ids, a latency histogram over fixed log-linear buckets
(:mod:`~deployready.monitoring.profiles.histogram`) and the prediction's and every
feature's counts over the package's reference bins — so profiles computed anywhere
(pandas, DuckDB, Spark) add up exactly. The long form every engine produces is
:mod:`~deployready.monitoring.profiles.frame`.
"""

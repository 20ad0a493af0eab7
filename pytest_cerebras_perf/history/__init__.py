"""The run history: every session appended to a database, independent of the committed baselines.

The baselines are the reviewed, accepted set; the history is everything that ever ran, so a team
can ask *when did it start?* (change points over run centres) and *is the endpoint drifting?*
(trends in the report). Modules: ``location`` (which database), ``schema`` (tables, version),
``store`` (open, migrate, append, query), ``entries`` (the narrow adapter from the results
document), ``changepoints`` (Apache Otava's E-Divisive means), ``trends`` (the report's section and
the verdicts' ``shifted`` note) and ``cli`` (``python -m pytest_cerebras_perf.history``).
"""

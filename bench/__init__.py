"""attestgate benchmarks: every target is a ratio against a baseline measured in the same run.

``python -m bench`` (``make bench``) runs them all; ``BENCH_QUICK=1`` runs a reduced version in
about a minute. Progress goes to stderr, a table to stdout, figures to
``bench/results/<name>.json``. See ``bench/README.md`` for the figures of the last full run.
"""

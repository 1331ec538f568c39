"""Operating the gateway: the ``attestgate`` CLI, configuration, logging, metrics, readiness and
the audit-writer watch, maintenance commands (docs/architecture.md)."""

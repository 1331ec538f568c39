"""``attestgate demo``: the whole system end to end, as its users meet it.

``gateway.demo.cli`` adds the subcommand; ``gateway.demo.run.play`` runs the scenes
(``scenes``, ``assets``) on a ``stage.Stage`` with the parties of ``cast`` and checks every
expectation (``report``); ``evidence`` verifies the log as the regulator and builds the
evidence bundle of ``--json``.
"""

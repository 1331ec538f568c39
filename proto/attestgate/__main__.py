"""The ``attestgate`` command (and ``python -m attestgate``).

The commands are the gateway's (``attestgate.gateway.ops.cli``), which needs the ``server`` extra.
In the SDK's base install (``pip install attestgate``) importing it fails on a missing module;
this entry point turns that into one line saying what to install, and exit code 2, instead of a
traceback with the hint on its last line.
"""

from __future__ import annotations

import importlib.metadata
import sys

SERVER_EXTRA_HINT = "pip install 'attestgate[server]'"


def main() -> int:
    """Run the ``attestgate`` command line; exit code 2 when the server extra is missing."""
    if sys.argv[1:] == ["--version"]:  # answered in the base install too
        print(f"attestgate {importlib.metadata.version('attestgate')}")
        return 0
    try:
        # Imported here, not above: in the base install the gateway's packages are absent.
        from attestgate.gateway.ops.cli import main as cli_main  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] == "attestgate":
            raise  # a broken installation of attestgate itself, not a missing extra
        message = str(exc)
        if "pip install" not in message:
            message = f"the attestgate command needs the server extra: {SERVER_EXTRA_HINT} ({exc})"
        print(f"attestgate: {message}", file=sys.stderr)
        return 2
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

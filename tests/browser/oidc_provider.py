"""A certified OpenID provider for the portal's sign-in tests: panva/oidc-provider (npm, pinned
by ``tests/oidc/package-lock.json``) run by Node from ``tests/oidc/provider.mjs`` on 127.0.0.1.

``.ci/run`` installs it (``npm ci`` in tests/oidc). Outside CI a missing install is done here
once (``npm ci``); without Node or npm the tests skip saying why, unless
``ATTESTGATE_REQUIRE_COMPONENTS`` is set (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
SCRIPT = OIDC_DIR / "provider.mjs"
MODULE = OIDC_DIR / "node_modules" / "oidc-provider" / "package.json"


def _unavailable(message: str) -> None:
    if os.environ.get("ATTESTGATE_REQUIRE_COMPONENTS"):
        pytest.fail(message)
    pytest.skip(message)


def require_oidc_provider() -> str:
    """The ``node`` binary, with oidc-provider installed (or a skip / CI failure)."""
    node = shutil.which("node")
    if node is None:
        _unavailable("Node.js is not installed (apt-get install nodejs npm): no OpenID provider")
    assert node is not None
    if MODULE.exists():
        return node
    if os.environ.get("ATTESTGATE_REQUIRE_COMPONENTS"):
        pytest.fail(f"oidc-provider is not installed in {OIDC_DIR} (run: npm ci there)")
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed (apt-get install npm): cannot install oidc-provider")
    assert npm is not None
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=OIDC_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not MODULE.exists():
        _unavailable(f"npm ci in {OIDC_DIR} failed: {done.stderr[-500:]}")
    return node


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signing_jwk(kid: str) -> dict[str, Any]:
    """A fresh private ES256 JWK."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "alg": "ES256", "use": "sig"}


class OidcProvider:
    """One provider process; ``rotate`` restarts it signing with a new key (new ``kid``)."""

    def __init__(
        self,
        node: str,
        workdir: Path,
        accounts: dict[str, dict[str, Any]],
        client_jwk: dict[str, Any] | None = None,
    ) -> None:
        self.node = node
        self.workdir = workdir
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = "attestgate-portal"
        self.client_secret = "portal-secret-" + os.urandom(8).hex()
        self.accounts = accounts
        self.keys = [signing_jwk("key-1")]
        self.client_jwk = client_jwk  # set: the client uses private_key_jwt with this key
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, portal_url: str, id_token_ttl: int = 600) -> None:
        """Run the provider for a portal at ``portal_url`` and wait until it listens."""
        self.portal_url = portal_url
        self.id_token_ttl = id_token_ttl
        config = {
            "port": self.port,
            "issuer": self.issuer,
            "client": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "redirect_uris": [portal_url + "/login/callback"],
                "post_logout_redirect_uris": [portal_url + "/login"],
            },
            "accounts": self.accounts,
            "jwks": {"keys": self.keys},
            "id_token_ttl": id_token_ttl,
        }
        if self.client_jwk is not None:
            client = config["client"]
            assert isinstance(client, dict)
            client["token_endpoint_auth_method"] = "private_key_jwt"
            client["jwks"] = {"keys": [self.client_jwk]}
            del client["client_secret"]
        path = self.workdir / "provider.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        path.chmod(0o600)
        self.process = subprocess.Popen(
            [self.node, str(SCRIPT), str(path)],
            cwd=OIDC_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        stdout = self.process.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                self.output.append(line)
                if line.strip() == "listening":
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(20):
            self.stop()
            raise AssertionError("oidc-provider did not start:\n" + "".join(self.output))

    def stop(self) -> None:
        """End the provider process."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def rotate(self) -> str:
        """Key rotation: restart signing with a new key (the old one dropped); its kid."""
        kid = f"key-{len(self.keys) + 1}"
        self.keys = [signing_jwk(kid)]
        self.stop()
        self.start(self.portal_url, self.id_token_ttl)
        return kid

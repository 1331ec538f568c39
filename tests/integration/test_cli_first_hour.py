"""Issue 16: the command line a new user meets (``serve`` started as a process, as documented).

- A config.toml written before the first start that names no ``[[issuers]]`` keeps the data dir's
  dev issuer: a token from ``attestgate token`` is accepted, and start-up says why it is trusted.
- A config that names other issuers only: start-up does not suggest ``attestgate token``.
- ``serve --portal`` prints the portal's sign-in URL and how owners and regulators sign in, and the
  URL answers; without the portal's web stack it says the pip command and creates nothing;
  ``make run PORTAL=1`` installs the extra and passes ``--portal`` (``make -n``: nothing runs);
  docs/portal.md lists every page the portal serves.
- ``--version``, ``serve --help``, ``providers add --help`` (key types, roles, domains) and
  ``demo --help`` (what ``--target`` leaves on a gateway).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from attestgate import BankClient, TlsConfig, errors
from attestgate.gateway.ops.cli import build_parser, main
from attestgate.gateway.usecases.providers import ProviderRegistry
from attestgate.protocol.jose import public_jwk
from tests.children import Child

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'proto'}"}


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


class Served:
    """``python -m attestgate serve ...`` until its ``listening on`` line."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.lines: list[str] = []
        while not (self.lines and self.lines[-1].startswith("listening on ")):
            line = child.readline(timeout=30)
            assert line is not None, f"serve ended before 'listening on'; printed {self.lines}"
            self.lines.append(line.rstrip("\n"))
        self.target = self.lines[-1].removeprefix("listening on ")

    def stop(self) -> None:
        self.child.process.send_signal(signal.SIGTERM)
        assert self.child.process.wait(timeout=20) == 0


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        served.child.kill()


def _serve(started: list[Served], data_dir: Path, *args: str) -> Served:
    argv = [sys.executable, "-m", "attestgate", "serve", "--data-dir", str(data_dir), *args]
    served = Served(Child([*argv, "--listen", "127.0.0.1:0"], env=ENV))
    started.append(served)
    return served


def _token(data_dir: Path, role: str, sub: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["token", "--data-dir", str(data_dir), "--role", role, "--sub", sub]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # the gateway accepts it: no note
    return out.strip()


def test_a_config_written_before_the_first_start_keeps_the_dev_issuer(
    tmp_path: Path, serve: list[Served], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "d"
    _write_private(data_dir / "config.toml", 'log_level = "WARNING"\n')
    served = _serve(serve, data_dir)
    assert any("names no [[issuers]]" in line for line in served.lines), served.lines
    assert any(line.startswith("get a token: attestgate token") for line in served.lines)
    token = _token(data_dir, "bank", "bank-1", capsys)
    tls = TlsConfig(ca_file=data_dir / "tls" / "ca.pem")
    with (
        BankClient(served.target, token=token, tls=tls) as bank,
        pytest.raises(errors.NotFound) as refused,  # authenticated: the call itself runs
    ):
        bank.get_consent("no-such-consent")
    assert refused.value.reason == "CONSENT_NOT_FOUND"
    served.stop()


def test_a_config_with_other_issuers_does_not_offer_dev_tokens(
    tmp_path: Path, serve: list[Served], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "d"
    jwk = {**public_jwk(ed25519.Ed25519PrivateKey.generate().public_key()), "kid": "k1"}
    _write_private(data_dir / "idp.jwks.json", json.dumps({"keys": [jwk]}))
    config = '[[issuers]]\nissuer = "https://idp.example"\njwks_file = "idp.jwks.json"\n'
    _write_private(data_dir / "config.toml", config)
    served = _serve(serve, data_dir)
    assert not any(line.startswith("get a token") for line in served.lines)
    (tokens,) = [line for line in served.lines if line.startswith("tokens: ")]
    add = (
        'add an [[issuers]] table with issuer = "attestgate-dev:attestgate" and '
        f'jwks_file = "{data_dir}/dev-issuer.jwks.json"'
    )
    assert "(https://idp.example)" in tokens
    assert "refuses tokens from `attestgate token` (TOKEN_WRONG_ISSUER)" in tokens
    assert add in tokens
    capsys.readouterr()
    argv = ["token", "--data-dir", str(data_dir), "--role", "bank", "--sub", "bank-1"]
    assert main(argv) == 0
    token, note = capsys.readouterr()
    token = token.strip()
    assert note.startswith("attestgate: note: this config trusts only its [[issuers]]")
    assert add in note
    tls = TlsConfig(ca_file=data_dir / "tls" / "ca.pem")
    with (
        BankClient(served.target, token=token, tls=tls) as bank,
        pytest.raises(errors.AuthenticationError) as refused,
    ):
        bank.get_consent("no-such-consent")
    assert refused.value.reason == "TOKEN_WRONG_ISSUER"  # what the start-up text said
    served.stop()


def test_serve_with_the_portal_says_where_and_how_to_sign_in(
    tmp_path: Path, serve: list[Served]
) -> None:
    data_dir = tmp_path / "d"
    served = _serve(serve, data_dir, "--portal", "127.0.0.1:0")
    (url_line,) = [line for line in served.lines if line.startswith("portal: https://")]
    login = url_line.removeprefix("portal: ").split(" ")[0]
    assert login.startswith("https://127.0.0.1:")
    assert login.endswith("/login")
    (sign_in,) = [line for line in served.lines if "sign in" in line]
    assert f"attestgate token --data-dir {data_dir} --role owner" in sign_in
    assert f"attestgate token --data-dir {data_dir} --role regulator" in sign_in
    context = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.pem"))
    with urllib.request.urlopen(login, context=context, timeout=10) as page:
        assert page.status == 200
        assert 'name="token"' in page.read().decode()
    served.stop()


def test_serve_portal_without_its_web_stack_says_the_pip_command(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['jinja2'] = None; from attestgate.__main__ import main; "
    data_dir = tmp_path / "d"
    done = subprocess.run(
        [sys.executable, "-c", hide + "sys.exit(main())", "serve", "--data-dir", str(data_dir),
         "--listen", "127.0.0.1:0", "--portal", "127.0.0.1:0"],
        capture_output=True, text=True, env=ENV, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines() == [
        "attestgate: the portal (serve --portal) needs the portal extra: "
        "pip install 'attestgate[server,portal]', or make run PORTAL=1 in a checkout "
        "(missing: jinja2)"
    ]
    assert not data_dir.exists(), "refused before anything was created"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"attestgate {importlib.metadata.version('attestgate')}\n"


def _help(*args: str) -> str:
    parser = build_parser()
    for name in args:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser.format_help()


def test_serve_help_describes_the_command() -> None:
    text = " ".join(_help("serve").split())
    assert "Run the gateway: the consent, attestation, record and audit gRPC services" in text
    assert "a config that names no [[issuers]] trusts it too" in text
    assert "pip install 'attestgate[server,portal]'" in text


def test_providers_add_help_names_key_types_roles_and_domains() -> None:
    text = _help("providers", "add")
    assert "EC P-256 (the provider signs ES256)" in text
    assert "Ed25519 (the provider signs EdDSA)" in text
    for role, domain in [
        ("tax_bureau", "income"),
        ("warehouse", "warehouse_receipt"),
        ("ip_office", "patent"),
        ("commercial_registry", "business_registration"),
        ("fx_authority", "FX rate tables (the config's fx_rates_role)"),
    ]:
        assert any(line.split(None, 1) == [role, domain] for line in text.splitlines()), role


@pytest.mark.parametrize("algorithm", ["ec", "ed25519"])
def test_the_key_commands_in_providers_add_help_make_keys_it_accepts(
    tmp_path: Path, algorithm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = "EC P-256" if algorithm == "ec" else "Ed25519 (the"
    lines = _help("providers", "add").splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    commands = [line.strip() for line in lines[start + 1 : start + 3]]
    commands = [c for c in commands if c.startswith("openssl")]
    assert commands, lines
    for command in commands:
        subprocess.run(command, shell=True, cwd=tmp_path, check=True, timeout=30)
    data_dir = tmp_path / "d"
    argv = ["providers", "add", "--data-dir", str(data_dir), "tax-1", str(tmp_path / "tax.pub")]
    assert main([*argv, "--role", "tax_bureau"]) == 0, capsys.readouterr().err
    assert ProviderRegistry(data_dir).provider("tax-1").roles == {"tax_bureau"}


def test_demo_help_says_what_target_leaves_behind() -> None:
    text = " ".join(_help("demo").split())
    assert "registers four providers" in text
    assert "becomes the gateway's latest" in text


def test_docs_portal_lists_every_page_of_the_portal() -> None:
    from starlette.routing import Route  # noqa: PLC0415 - the portal extra, as the portal needs

    from attestgate.gateway.portal import build_app  # noqa: PLC0415
    from attestgate.gateway.portal.web import Portal  # noqa: PLC0415

    app = build_app(cast(Portal, SimpleNamespace(https=True)))
    routes: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Route):
            path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path)
            routes.setdefault(path, set()).update(route.methods or ())
    table = re.findall(r"^\| `(/[^`]*)` \|", (REPO / "docs" / "portal.md").read_text(), re.M)
    pages = {path for path, methods in routes.items() if "GET" in methods}
    assert set(table) <= set(routes), "the table names no URL the portal does not serve"
    assert pages <= set(table), "every page the portal serves is in the table"
    assert len(table) == len(set(table))
    assert {"/login", "/owner/activity", "/regulator/events/{index}/receipt"} <= pages
    # serve's start-up line names the top pages: each is served, and every top owner page named
    from attestgate.gateway.ops.startup import OWNER_PAGES, REGULATOR_PAGES  # noqa: PLC0415

    assert set(OWNER_PAGES) | set(REGULATOR_PAGES) <= pages
    assert {p for p in pages if p.count("/") == 2 and p.startswith("/owner/")} == set(OWNER_PAGES)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(
    ("portal", "serve_args"),
    [(None, ""), ("1", " --portal 127.0.0.1:8080"), ("127.0.0.1:9443", " --portal 127.0.0.1:9443")],
)
def test_make_run_portal_installs_the_extra_and_serves_the_portal(
    portal: str | None, serve_args: str
) -> None:
    # -n: print the commands, run nothing; -B: as on a fresh clone (every stamp out of date)
    argv = ["make", "-n", "-B", "-C", str(REPO), "run", "LISTEN=127.0.0.1:50051"]
    done = subprocess.run(
        [*argv, *([f"PORTAL={portal}"] if portal else [])],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    commands = [line for line in done.stdout.splitlines() if not line.startswith("make")]
    installs_portal = "pip install --quiet -e '.[server,portal]'"
    assert any(installs_portal in line for line in commands) is bool(portal)
    assert commands[-1] == f".venv/bin/attestgate serve --listen 127.0.0.1:50051{serve_args}"

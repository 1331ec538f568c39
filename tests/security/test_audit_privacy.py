"""No personal data in what regulators read (issue 14, section 2).

One gateway with its portal runs ``attestgate demo --target`` (all four domains) and then every
program of docs/quickstart.md. Afterwards the test collects, from the database itself, every
subject id (owners of consents), every record id of a personal domain, every transaction ref and
every record field value (decrypted from the vault), and scans every audit leaf, what ListActivity
returns, and every portal page a regulator or an owner can open (the event list, each event with
its proof and tlog-proof receipt, each owner's requests, consents and activity): none of them
appears. An owner's pages may show the owner's own id ("signed in as"), nothing of anyone else.
Public asset ids (receipt and patent numbers, USCCs: ``record_id_public``) may stay in clear.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from attestgate.audit.events import AuditEvent
from attestgate.consent.fields import FieldType
from attestgate.gateway.app import GatewayParts
from attestgate.gateway.ops.cli import main
from attestgate.sdk import OwnerClient, TlsConfig
from tests.browser.conftest import Deployment
from tests.browser.test_portal_http import Client
from tests.integration.test_readme_snippets import Site, run_quickstart, start_site

MIN_VALUE_CHARS = 4  # shorter values ("t", 250) are not identifying and occur by chance


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from start_site(tmp_path, portal="127.0.0.1:0")


@dataclass
class Secrets:
    """What must never reach a leaf or a page, by kind."""

    subjects: set[str]
    record_ids: set[str]
    transaction_refs: set[str]
    values: set[str]

    def found_in(self, text: str, *, allowed: frozenset[str] = frozenset()) -> list[str]:
        every = self.subjects | self.record_ids | self.transaction_refs | self.values
        return sorted(s for s in every - allowed if _mentions(text, s))


def _mentions(text: str, secret: str) -> bool:
    """``secret`` in ``text`` as a whole token (not inside a longer id or a base64 string)."""
    return re.search(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", text) is not None


def collect_secrets(parts: GatewayParts, holders: Iterable[str] = ()) -> Secrets:
    """What must never reach a leaf; ``holders`` are subjects that hold an asset without any
    consent (buyers of a transferred receipt), which the database names only by pseudonym."""
    conn = parts.storage.read()
    subjects = {
        str(r[0])
        for r in conn.execute(
            "SELECT owner FROM consent_requests UNION SELECT owner FROM consents"
        ).fetchall()
    }
    public = {n for n, d in parts.catalog.domains.items() if d.record_id_public}
    rows = conn.execute("SELECT DISTINCT domain, record_id, subject_ref FROM records").fetchall()
    record_ids = {str(rid) for domain, rid, _ in rows if domain not in public}
    refs = {
        str(r[0])
        for r in conn.execute(
            "SELECT transaction_ref FROM attestations WHERE transaction_ref IS NOT NULL"
        ).fetchall()
    }
    owner_of = {parts.trail.pseudonym(s): s for s in subjects | set(holders)}
    values: set[str] = set(holders)  # as secret as a subject id (no owner pages to check)
    for domain, record_id, ref in rows:
        subject = owner_of[ref]
        if parts.vault.holder_ref(conn, domain, record_id) != ref:
            continue  # an earlier holder's version: the current holder's is read instead
        record = parts.vault.get(conn, domain=domain, subject=subject, record_id=record_id)
        spec = parts.catalog.domain(domain)
        for name, value in record.fields.items():
            text = str(value)
            if spec.fields[name].type is FieldType.ENUM or isinstance(value, bool):
                continue  # catalog vocabulary (ACTIVE, VALID), not a value of a person
            if len(text) >= MIN_VALUE_CHARS and not (domain in public and text == record_id):
                values.add(text)
    return Secrets(subjects, record_ids, refs, values)


def leaves(parts: GatewayParts) -> list[str]:
    conn = parts.storage.read()
    return [AuditEvent.from_json(bytes(r[0])).leaf.decode() for r in
            conn.execute("SELECT data FROM audit_leaves ORDER BY idx").fetchall()]  # fmt: skip


def regulator_pages(client: Client, size: int) -> Iterator[tuple[str, str]]:
    client.sign_in("regulator", "csrc")
    path: str | None = "/regulator/events"
    yield "/regulator", client.request("GET", "/regulator").body
    while path is not None:
        body = client.request("GET", path).body
        yield path, body
        more = re.search(r'href="(/regulator/events\?[^"]*before=\d+[^"]*)"', body)
        path = more.group(1).replace("&amp;", "&") if more else None
    for index in range(size):
        yield f"event {index}", client.request("GET", f"/regulator/events/{index}").body
        receipt = client.request("GET", f"/regulator/events/{index}/receipt").body
        extra = next(line for line in receipt.splitlines() if line.startswith("extra "))
        yield f"receipt {index}", receipt + base64.b64decode(extra.split()[1]).decode()


def owner_pages(client: Client, owner: str) -> Iterator[tuple[str, str]]:
    client.sign_in("owner", owner)
    for page in ("/owner/requests", "/owner/consents"):
        yield page, client.request("GET", page).body
    path: str | None = "/owner/activity"
    while path is not None:
        body = client.request("GET", path).body
        yield path, body
        more = re.search(r'href="(/owner/activity\?after=\d+)"', body)
        path = more.group(1) if more else None


def test_no_subject_record_id_transaction_ref_or_value_in_leaves_or_pages(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["demo", "--target", site.target, "--data-dir", str(site.config.data_dir)])
    assert code == 0, out.getvalue()[-3000:]
    run_quickstart(site, monkeypatch)
    parts = site.gateway.parts
    buyers = set(re.findall(r"now belongs to (\S+) ", out.getvalue())) | {"bob"}  # the sales
    secrets = collect_secrets(parts, buyers)
    # The scan can only fail if it looks for the right things: the quickstart's own data is there.
    assert "alice" in secrets.subjects
    assert len(secrets.subjects) >= 5  # alice and the demo's four owners
    # the demo's income record and the quickstart's (inc-2025-<run>, a random run id)
    assert len([r for r in secrets.record_ids if r.startswith("inc-2025-")]) >= 2
    assert {"fx-0001"} <= secrets.transaction_refs
    assert {"61234500", "ACME Shenzhen", "91440300TAX0001"} <= secrets.values
    log = leaves(parts)
    assert len(log) > 40
    problems = [(i, secrets.found_in(leaf)) for i, leaf in enumerate(log)]
    assert [p for p in problems if p[1]] == []

    env = site.environment()
    tls = TlsConfig(ca_file=Path(env["ATTESTGATE_CA"]))
    for owner in sorted(secrets.subjects):
        with OwnerClient(site.target, token=site.token("owner", owner), tls=tls) as client:
            activity = repr([(e.type, e.actor_id, e.claims, e) for e in client.activity()])
        assert secrets.found_in(activity) == [], owner

    ca = (site.config.data_dir / "tls" / "ca.pem").read_bytes()
    channel = grpc.secure_channel(site.target, grpc.ssl_channel_credentials(ca))
    portal = Deployment(site.local, channel)
    try:
        pages = list(regulator_pages(Client(portal), len(log)))
        for owner in sorted(secrets.subjects):
            for path, body in owner_pages(Client(portal), owner):
                assert secrets.found_in(body, allowed=frozenset({owner})) == [], (owner, path)
                assert re.search(r"<td>|<li>|<tr>", body) or "requests" in path, (owner, path)
    finally:
        channel.close()
    # the checkpoint, every page of the event list, every event and its receipt
    listed = [path for path, _ in pages if path.startswith("/regulator/events")]
    assert len(listed) == -(-len(log) // 50)
    assert len(pages) == 1 + len(listed) + 2 * len(log)
    leaked = [(path, secrets.found_in(body)) for path, body in pages]
    assert [x for x in leaked if x[1]] == []

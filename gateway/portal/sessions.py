"""Portal sessions in the database (SQLite or PostgreSQL, migration 0008), so any replica of the
gateway serves any signed-in browser.

- A row per session, keyed by the SHA-256 of the cookie value (the value itself, a bearer
  credential, is never stored); its CSRF token and, once signed in, the principal.
- Expiry is the server's: a row past ``expires_at`` is refused and deleted whatever the cookie's
  max-age says. Signing in always makes a new row with a new id and drops the old one (no session
  fixation); signing out deletes the row.
- OpenID Connect sign-ins on their way (``state`` -> nonce and PKCE verifier) are rows too: the
  provider's callback may reach another replica. A state is taken once.

Reads use the storage's read connections; writes go through its sequencer (one unit of work, no
audit event: sessions are not part of the log).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from attestgate.audit.sequencer import Tx
from attestgate.gateway.common.auth import Principal, SubjectId
from attestgate.gateway.common.roles import Role
from attestgate.gateway.persistence.storage import Storage
from attestgate.gateway.portal.security import ANONYMOUS_TTL, PendingLogin, Session

MAX_ID_LENGTH = 128


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _moment(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class DbSessionStore:
    """The ``SessionStore`` interface over the gateway's database."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        """The live session with this id, or None (an expired one is deleted)."""
        if not session_id or len(session_id) > MAX_ID_LENGTH:
            return None
        row = (
            self._storage.read()
            .execute(
                "SELECT csrf, expires_at, subject, role, issuer, principal_expires_at, cnf_x5t, "
                "token, id_token FROM portal_sessions WHERE id_hash = ?",
                (_hash(session_id),),
            )
            .fetchone()
        )
        if row is None:
            return None
        csrf, expires, subject, role, issuer, p_expires, cnf, token, id_token = row
        if int(expires) <= _micros(now):
            self.drop(session_id)
            return None
        principal = None
        if subject is not None:
            principal = Principal(
                SubjectId(str(subject)),
                Role(str(role)),
                str(issuer),
                _moment(int(p_expires)),
                cnf_x5t=None if cnf is None else str(cnf),
            )
        return Session(
            session_id,
            str(csrf),
            _moment(int(expires)),
            principal=principal,
            token=str(token),
            id_token=str(id_token),
        )

    def new(
        self,
        now: datetime,
        principal: Principal | None = None,
        token: str = "",
        id_token: str = "",
    ) -> Session:
        """A fresh session (new id, new CSRF token), stored before it is returned."""
        expires = principal.expires_at if principal is not None else now + ANONYMOUS_TTL
        session = Session(
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            expires,
            principal=principal,
            token=token,
            id_token=id_token,
        )
        row = (
            _hash(session.id),
            session.csrf,
            _micros(expires),
            None if principal is None else str(principal.subject),
            None if principal is None else principal.role.value,
            None if principal is None else principal.issuer,
            None if principal is None else _micros(principal.expires_at),
            None if principal is None else principal.cnf_x5t,
            token,
            id_token,
        )

        def unit(tx: Tx) -> None:
            tx.conn.execute("DELETE FROM portal_sessions WHERE expires_at <= ?", (_micros(now),))
            tx.conn.execute(
                "INSERT INTO portal_sessions (id_hash, csrf, expires_at, subject, role, issuer, "
                "principal_expires_at, cnf_x5t, token, id_token) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        self._storage.write(unit)
        return session

    def drop(self, session_id: str) -> None:
        """Forget a session (sign-out, expiry, a new sign-in)."""
        if not session_id or len(session_id) > MAX_ID_LENGTH:
            return
        key = _hash(session_id)

        def unit(tx: Tx) -> None:
            tx.conn.execute("DELETE FROM portal_sessions WHERE id_hash = ?", (key,))

        self._storage.write(unit)

    def put_login(self, login: PendingLogin, now: datetime) -> None:
        """Remember a sign-in on its way until its callback (or its expiry)."""
        row = (_hash(login.state), login.nonce, login.verifier, _micros(login.expires_at))

        def unit(tx: Tx) -> None:
            tx.conn.execute("DELETE FROM portal_logins WHERE expires_at <= ?", (_micros(now),))
            tx.conn.execute(
                "INSERT INTO portal_logins (state_hash, nonce, verifier, expires_at) "
                "VALUES (?, ?, ?, ?)",
                row,
            )

        self._storage.write(unit)

    def take_login(self, state: str, now: datetime) -> PendingLogin | None:
        """The live sign-in of ``state``, removed (a state is good once), or None."""
        if not state or len(state) > MAX_ID_LENGTH:
            return None
        key = _hash(state)

        def unit(tx: Tx) -> PendingLogin | None:
            found = tx.conn.execute(
                "SELECT nonce, verifier, expires_at FROM portal_logins WHERE state_hash = ?",
                (key,),
            ).fetchone()
            if found is None:
                return None
            tx.conn.execute("DELETE FROM portal_logins WHERE state_hash = ?", (key,))
            nonce, verifier, expires = found
            if int(expires) <= _micros(now):
                return None
            return PendingLogin(state, str(nonce), str(verifier), _moment(int(expires)))

        return self._storage.write(unit).value

"""The protocol kernel: attestgate's formats and checks, with no gRPC, no storage, no server.

What the SDK, the consent and audit cores and the gateway all need, implemented once: error
reasons and ``DomainError``, canonical JSON, strict base64url and JSON, JOSE (ES256 compact JWS,
P-256 JWKs), SD-JWT (RFC 9901) format and verification, RFC 9162 Merkle proofs, C2SP signed notes.
It imports the standard library, ``cryptography`` and nothing else of attestgate
(``tests/unit/test_import_rules.py``).
"""

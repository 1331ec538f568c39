"""The gateway's gRPC transport: the server, its interceptor (limits, tokens, roles, access log),
the servicers that translate protobuf to use-case calls, and the one mapping of ``DomainError`` to
a status with ``ErrorInfo`` (docs/architecture.md)."""

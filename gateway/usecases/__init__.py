"""The gateway's use cases: consents, record uploads, attestation issue and redemption, erasure.

They apply the consent core to what they read through storage and hand every change, with its
audit events, to the sequenced writer. No grpc, no starlette, no generated code: the gRPC
transport (``attestgate.gateway.transport``) and the portal (``attestgate.gateway.portal``) are two
front ends over them (docs/architecture.md).
"""

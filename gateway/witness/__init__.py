"""A C2SP tlog-witness: cosigns a log's checkpoints only when consistent with what it cosigned.

``core`` holds the protocol (request parsing, the durable state, cosigning) and ``server`` serves it
over HTTP(S) with Starlette under uvicorn; ``attestgate witness`` (``gateway.ops.cli``) runs it.
See docs/witnessing.md.
"""

"""Small helpers several gateway layers share and none owns: ``HOST:PORT`` parsing, token
verification, clocks, cursors, keys and key files, rate limits, the role table, TLS material
(docs/architecture.md)."""

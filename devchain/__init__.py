"""devchain: a Solana JSON-RPC simulator of the reference paid-match Anchor program.

Used for tests, demos, benchmarks and fault drills. The exporter never imports it.
"""

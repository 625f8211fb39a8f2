"""solana-escrow-exporter: Prometheus exporter for Solana escrow programs."""

__version__ = "0.1.0"

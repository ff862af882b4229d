"""Helpers shared by the circuit breaker's Lambdas (packaged as ``common/`` at the zip root)."""

"""Batched, seeded depth-sensor noise models and sensor profiles."""

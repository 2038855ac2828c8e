"""Depth encoders: registry, DeFM models, baselines, DeFM preprocessing."""

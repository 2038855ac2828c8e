"""Depth datasets, DeFM-recipe encoder pretraining (DINO + iBOT + KoLeo), ViT -> CNN distillation, probes."""

"""rsl-rl training wiring: encoder observation wrappers, PPO, distillation, evaluation."""

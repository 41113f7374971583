"""Training: run directory and config, match runner, replay window, learner.

Kept empty on purpose: importing one part (say the match runner) should not import torch
through another.
"""

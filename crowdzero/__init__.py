"""crowdzero: AlphaZero-style Go trained against a crowd instead of itself."""

import os

__version__ = "0.1.0"

# torch's OpenMP threads spin-wait between ops by default. On this project's shared 2-core
# machine (search, learner and engines at once) that spinning made a 2-thread forward pass
# 20-100x slower (19 vs ~1,000 positions/s measured); sleeping threads cost little.
# libgomp reads this once, when torch is first imported, so it must come before that import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

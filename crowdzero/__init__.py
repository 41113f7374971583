"""crowdzero: AlphaZero-style Go trained against a crowd instead of itself."""

__version__ = "0.1.0"

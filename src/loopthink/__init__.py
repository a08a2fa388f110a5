"""loopthink: depth-recurrent transformers that think deeper, not longer."""

__version__ = "0.1.0"

"""loopthink: depth-recurrent transformers that think deeper, not longer."""

from loopthink.version import __version__

__all__ = ["__version__"]

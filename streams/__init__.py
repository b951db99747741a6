"""wirewatch: streaming news monitoring (tag wire stories, index them, raise alerts)."""

__version__ = "0.1.0"

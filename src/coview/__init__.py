"""Coview: self-hostable live screen share, cobrowse and presence for customer support."""

from coview.errors import CoviewError

__version__ = "0.1.0"

__all__ = ["CoviewError", "__version__"]

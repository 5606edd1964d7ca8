"""The version of Coview, in one place (the package, its build and its clients read it)."""

__version__ = "0.1.0"

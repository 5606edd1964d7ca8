"""The ``coview`` command line."""

"""Browser assets shipped inside the package: the demo site (and later the built JavaScript)."""

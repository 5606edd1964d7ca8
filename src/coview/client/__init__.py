"""Python clients of a Coview server: the visitor SDK and the agent client."""

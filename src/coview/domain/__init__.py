"""Domain rules: groups, agents, keys, settings, tokens, throttles, audit.

Nothing here knows of ASGI, SQL or Redis; storage and transport call into it.
"""

"""Browser assets shipped inside the package.

``static/`` holds what ``web/`` (npm, esbuild) builds: the agent console's script and styles,
served at ``/coview/``. ``agent/`` is the console's page at ``/agent/``; ``demo/`` the demo site.
"""

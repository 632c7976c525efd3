"""Repository-level pytest configuration: the plugin's own tests drive pytest in-process (pytester)."""

pytest_plugins = ("pytester",)

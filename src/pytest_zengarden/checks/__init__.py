"""Pure evaluators: given the site and a target's state (already read), say what conforms.

No module here does I/O; clients and offline readers fetch the state, suites and feature steps call
these functions and assert on the :class:`~pytest_zengarden.checks.findings.Finding` they return.
"""

"""The real-day test's marker (it runs in the normal suite: the marker only names it)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "multiproc: the real-day multi-process test (tmux app + fycli loops + SIGKILLs)"
    )

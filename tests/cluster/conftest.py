"""tests/cluster/conftest.py: remove what killed runs of the cluster
harness left behind (namespaces, homes) before this session's tests."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _stale_clusters():
    if os.geteuid() == 0:
        harness.cleanup_stale()
    yield

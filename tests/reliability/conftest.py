"""Fixtures shared by the reliability suite: a real daemon in a temp home
of its own (faults.Daemon), stopped and removed after each test."""
import pytest

from faults import Daemon


@pytest.fixture
def daemon():
    d = Daemon()
    try:
        yield d.start()
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()

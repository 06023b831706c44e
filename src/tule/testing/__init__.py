"""Testing helpers: a real tule server in process, and clients pointed at it."""

from tule.testing.server import TuleServer

__all__ = ["TuleServer"]

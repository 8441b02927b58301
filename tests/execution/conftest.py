from tests.demo_store import demo_store

__all__ = ["demo_store"]

from tests.workspace.demo_store import acme, demo_store, demo_template, globex, people

__all__ = ["acme", "demo_store", "demo_template", "globex", "people"]

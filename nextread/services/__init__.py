"""Use cases: the one layer that combines store, engine, cache and bus and owns the transaction."""

"""Long-lived objects kept out of the garbage collector's full collections.

A serving process holds a few hundred thousand objects that live as long as it does: imported modules,
the app, the embedding model, each tenant's served catalog. CPython's full collection walks every one
of them with the GIL held; under load it ran every few seconds and took 200–300 ms, which was the p99
of a cached recommendation over HTTP. :func:`freeze_long_lived` moves what exists now into the
permanent generation (:func:`gc.freeze`), so later full collections only walk what was made since.

Frozen objects are still freed by reference counting when their last reference goes (a catalog
replaced by a rebuild is); only garbage that forms a reference cycle would be kept, so this is called
after a collection, where little else is alive than what was just built to last.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Call once long-lived state is built (startup, a new catalog): collects, then freezes."""
    gc.collect()
    gc.freeze()

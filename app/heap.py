"""Python's cyclic garbage collector in the service's long-running processes.

A full collection walks every object a process holds. After start-up that is some 50,000
to 75,000 objects (modules, classes, functions, settings, pools) that live as long as the
process; under load a walk over them took 15 to 40 ms in the HTTP server, the writer and
the projection process, a stall of every request or batch in flight, and the largest
part of the read-your-writes p99 (bench/README.md). ``settle`` collects once, when a
process has started, and then moves what is left out of the collector's sight
(``gc.freeze``): later full collections walk only what was made since.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect once, then leave everything that survived out of later collections."""
    gc.collect()
    gc.freeze()

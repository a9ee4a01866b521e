"""The service's child processes, built here as the rest of the service is in
``app.bootstrap``: ``python -m app.processes writer|projections FD``.

``ledger serve`` starts them (``app.service.writer``, ``app.service.projection_process``)
with its own environment, which each reads once, here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from adapters.durability import views_datastore
from adapters.sql import Sql
from app import heap, logs
from app.bootstrap import followers, open_ledger
from app.config import environment, load
from app.service import committer, projection_process

ROLES = ("writer", "projections")


def main(argv: Sequence[str]) -> None:
    if len(argv) != 2 or argv[0] not in ROLES or not argv[1].isdigit():
        raise SystemExit(f"usage: python -m app.processes {'|'.join(ROLES)} FD")
    role, descriptor = argv[0], int(argv[1])
    settings = load(environment(), require_signing_keys=False)
    logs.configure(text=settings.text_logs)
    if role == "writer":
        heap.settle()
        committer.serve(descriptor, lambda: open_ledger(settings, create_tables=False))
        return
    views = Sql(views_datastore(settings.store))
    workers, tree = followers(settings, views)
    heap.settle()
    tree.start()
    try:
        projection_process.run(descriptor, workers)
    finally:
        tree.stop()
        views.datastore.close()


if __name__ == "__main__":
    main(sys.argv[1:])

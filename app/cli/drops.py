"""Lost webhooks, for trying completeness: the simulator can register every verification
first, and then drop all deliveries of a share of them, as an outage of the receiver or a
misconfigured URL would. What the dropped deliveries said becomes a script for the fake
iDenfy status API (``ledger simulate --idenfy-api``), so a reconciliation run against it
recovers exactly what was lost."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from app.cli.scenarios import Planned

RESULT_KINDS = ("identification", "auto-finished", "manual-finished", "cancelled", "expired")
SUBJECT_KINDS = ("aml-monitoring", "company")


def verifications(planned: Sequence[Planned]) -> dict[str, str | None]:
    """The verifications a plan sends results of, with the clientId their bodies name."""
    found: dict[str, str | None] = {}
    for delivery in planned:
        if delivery.kind in SUBJECT_KINDS:
            continue
        body = json.loads(delivery.body)
        client = body.get("clientId") if isinstance(body, dict) else None
        found.setdefault(delivery.scan_ref, client if isinstance(client, str) else None)
    return found


def drop(
    planned: Sequence[Planned], fraction: float, seed: int | None = None
) -> tuple[list[Planned], dict[str, dict[str, Any]]]:
    """The deliveries kept, and for each verification whose deliveries were all dropped,
    what iDenfy's status API would answer about it (a fake's script entry)."""
    rng = random.Random(seed)
    refs = sorted(verifications(planned))
    lost = {ref for ref in refs if rng.random() < fraction}
    kept = [delivery for delivery in planned if delivery.scan_ref not in lost]
    truth = {ref: _answer([d for d in planned if d.scan_ref == ref]) for ref in sorted(lost)}
    return kept, truth


def _answer(deliveries: Sequence[Planned]) -> dict[str, Any]:
    """What the status API says of a verification, from the last result sent of it."""
    results = [d for d in deliveries if d.kind in RESULT_KINDS]
    if not results:
        return {"status": "ACTIVE"}
    # The reviewer's result when there is one, else the last final one, else the last.
    manual = [d for d in results if d.kind == "manual-finished"]
    final = [d for d in results if json.loads(d.body).get("final") is not False]
    last = (manual or final or results)[-1]
    body = json.loads(last.body)
    status = body.get("status") or {}
    if last.kind in ("cancelled", "expired"):
        return {"status": "EXPIRED" if last.kind == "expired" else "DENIED"}
    reviewed = last.kind == "manual-finished" or status.get("manualFace") is not None
    return {"status": status.get("overall") or "REVIEWING", "manual": reviewed}


def fake_script(truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The fake iDenfy API's script: the dropped verifications' answers, ACTIVE otherwise."""
    return {"default": {"status": "ACTIVE"}, "scanRefs": truth}

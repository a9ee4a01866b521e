"""The auditor UI shows, for a verification, the latest checkpoint and its evidence bundle
(both stores); proofs name other subjects by their key (``subject=aml:...``)."""

from __future__ import annotations

import io
import zipfile

from starlette.testclient import TestClient

from app.server import create_app
from domain import merkle
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import API_TOKENS, SIGNING_KEYS
from tests.support.transparency import signing_services, tree_of
from tests.support.ui import sign_in
from tests.support.webhooks import auth, deliver


def test_a_verification_page_shows_the_latest_checkpoint_and_its_bundle(database_url: str) -> None:
    with (
        signing_services(database_url) as services,
        TestClient(create_app(services), raise_server_exceptions=False) as client,
    ):
        deliver(client, "auto-finished", result_body("tree-ui-1", final=True))
        tree = tree_of(services)
        tree.catch_up_all()
        note = tree.checkpoint()
        services.start_projections()
        deliver(client, "auto-finished", result_body("tree-ui-2", final=True))
        assert sign_in(client, API_TOKENS["auditor"]).status_code == 303
        page = client.get("/ui/verifications/tree-ui-1?minPosition=2")
        download = client.get("/ui/verifications/tree-ui-1/bundle")
        anonymous = TestClient(create_app(services)).get(
            "/ui/verifications/tree-ui-1/bundle", follow_redirects=False
        )

    assert page.status_code == 200, page.text
    assert "Download evidence bundle" in page.text
    assert note.splitlines()[1] in page.text  # the tree size line of the checkpoint
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert anonymous.status_code == 303


def test_an_inclusion_proof_names_a_monitoring_by_its_subject(database_url: str) -> None:
    with (
        signing_services(database_url) as services,
        TestClient(create_app(services), raise_server_exceptions=False) as client,
    ):
        raw = encode({"monitoringId": "m-tree", "alertStatus": "ALERT"})
        headers = signed_headers(raw, SIGNING_KEYS[0], "AML_MONITORING")
        assert client.post("/webhooks/idenfy", content=raw, headers=headers).is_success
        deliver(client, "auto-finished", result_body("tree-after", final=True))
        proof = client.get(
            "/audit/proofs/inclusion",
            params={"subject": "aml:m-tree", "sequence": 1, "treeSize": 2},
            headers=auth("auditor"),
        )
        root = tree_of(services).root(2)

    assert proof.status_code == 200, proof.text
    body = proof.json()
    hashes = [bytes.fromhex(h) for h in body["hashes"]]
    leaf = bytes.fromhex(body["leafHash"])
    assert merkle.verify_inclusion(leaf, body["leafIndex"], 2, hashes, root)

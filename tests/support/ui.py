"""Signing in to the auditor UI, as a browser does."""

from __future__ import annotations

import re

import httpx2 as httpx
from starlette.testclient import TestClient

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_FIELD.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def sign_in(client: TestClient, token: str, next_path: str = "/ui/recent") -> httpx.Response:
    csrf = csrf_of(client.get("/ui/login"))
    form = {"csrf": csrf, "token": token, "next": next_path}
    return client.post("/ui/login", data=form, follow_redirects=False)

"""``ledger simulate --idenfy-api PORT`` serves the fake iDenfy status API until stopped."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.idenfy_api import IdenfyApiSettings, IdenfyStatusApi
from tests.support.process import LEDGER, STOP_SECONDS, clean_environment, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``ledger simulate --idenfy-api PORT`` started, and the file its stdout goes to."""
    stdout = tmp_path / "simulate.stdout"
    with stdout.open("wb") as out, (tmp_path / "simulate.stderr").open("wb") as err:
        process = subprocess.Popen(
            [str(LEDGER), "simulate", "--idenfy-api", str(free_port())],
            env=clean_environment(),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    yield process, stdout
    if process.poll() is None:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


def printed_settings(process: subprocess.Popen[bytes], stdout: Path) -> dict[str, str]:
    def three_lines() -> dict[str, str]:
        assert process.poll() is None, f"exited with {process.returncode}"
        lines = stdout.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines) if len(lines) >= 3 else {}

    return wait_until(three_lines, 20, "the fake's URL and credentials were not printed")


def test_simulate_serves_the_fake_with_the_credentials_it_prints(
    simulate: tuple[subprocess.Popen[bytes], Path],
) -> None:
    process, stdout = simulate
    printed = printed_settings(process, stdout)
    settings = IdenfyApiSettings(
        api_key=printed["IDENFY_API_KEY"],
        api_secret=printed["IDENFY_API_SECRET"],
        base_url=printed["IDENFY_API_URL"],
    )

    check = IdenfyStatusApi(settings).check("ref-1")

    assert check.answer is not None
    assert check.answer.status == "APPROVED"
    process.terminate()
    assert process.wait(timeout=STOP_SECONDS) == 0


def test_simulate_without_a_service_or_the_fake_says_what_it_needs(tmp_path: Path) -> None:
    finished = subprocess.run(
        [str(LEDGER), "simulate"],
        env=clean_environment(),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 2
    assert (
        finished.stderr.decode().strip() == "ledger: --url and --key are needed to send deliveries"
    )

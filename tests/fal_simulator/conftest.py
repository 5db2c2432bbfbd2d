"""Fixtures for the fal simulator tests: a running simulator, the real fal-client aimed at it, a webhook receiver.

Plain pytest: no Django settings and no database are needed.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import fal_client
import fal_client.client
import httpx
import pytest

from fal_simulator.server import FalSimulator

from .helpers import WebhookReceiver, data_uri, make_image


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory) -> Path:
    """One state dir per test session: the CA and the render cache are shared, so repeated renders are cheap."""
    return tmp_path_factory.mktemp("fal-simulator-state")


@pytest.fixture
def sim(state_dir):
    """A simulator on a free port with default switches; tests change switches with sim.configure()."""
    simulator = FalSimulator(port=0, state_dir=state_dir, webhook_retry_delay=0.05)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def fal(sim, monkeypatch) -> fal_client.SyncClient:
    """The real fal-client SyncClient, in-process, aimed at the simulator (queue, REST and CDN URLs)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(sim.ca_bundle_file))  # read when httpx clients are created
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{sim.base_url}/")
    monkeypatch.setattr(fal_client.client, "REST_URL", sim.base_url)
    monkeypatch.setattr(fal_client.client, "CDN_URL", sim.base_url)
    # fal-client's own retry budget: the app's gateway lowers this process-wide, and the
    # pipeline tests may have run first in this process.
    monkeypatch.setattr(fal_client.client, "MAX_ATTEMPTS", 10)
    return fal_client.SyncClient(key=sim.fal_key)


@pytest.fixture
def http(sim) -> httpx.Client:
    """A raw HTTPS client trusting the simulator's CA, with the simulator's key."""
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    with httpx.Client(
        verify=context, base_url=sim.base_url, timeout=10, headers={"Authorization": f"Key {sim.fal_key}"}
    ) as client:
        yield client


@pytest.fixture(scope="session")
def image_uri() -> str:
    return data_uri(make_image())


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()

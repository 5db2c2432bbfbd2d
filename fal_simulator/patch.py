"""Point an already imported fal-client at the simulator, in-process.

fal-client reads FAL_QUEUE_RUN_HOST once, at import, but the URLs it uses are module
globals of `fal_client.client` read at call time: QUEUE_URL_FORMAT (queue calls),
REST_URL (upload token, upload fallback) and CDN_URL (uploads). httpx reads
SSL_CERT_FILE whenever a client is created, and a SyncClient creates its httpx
clients lazily, so set both before the SyncClient's first call. A SyncClient whose
first upload already happened keeps the REST_URL it copied into its token manager.
"""

from __future__ import annotations

import os


def point_fal_client(base_url: str, *, ca_file: str | None = None, key: str | None = None) -> None:
    """Aims fal_client's queue, REST and CDN URLs at `base_url` (e.g. https://localhost:8443)."""
    import fal_client.client as fal_module

    base_url = base_url.rstrip("/")
    fal_module.QUEUE_URL_FORMAT = f"{base_url}/"
    fal_module.REST_URL = base_url
    fal_module.CDN_URL = base_url
    if ca_file:
        os.environ["SSL_CERT_FILE"] = ca_file
    if key:
        os.environ["FAL_KEY"] = key

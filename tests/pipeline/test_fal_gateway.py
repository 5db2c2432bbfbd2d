"""The gateway against fal's documented behaviour, through the real fal-client over HTTPS.

Each test drives the simulator into one of fal's documented worst cases (docs/fal-contract.md)
and checks what the gateway makes of it. Where fal-client alone would do harm (re-sending a
paid submit), the hazard is shown first with fal-client itself, so the test proves the guard.
"""

from __future__ import annotations

import random
import ssl

import fal_client
import fal_client.client
import pytest

from fal_simulator.server import ENDPOINT_ID
from generations import fal_gateway, pricing, seedance
from generations.fal_gateway import FalError
from tests.fal_simulator.helpers import data_uri, make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def fal(fal_simulator, settings):
    settings.FAL_CLIENT_MAX_ATTEMPTS = 3  # the production default: fal-client would send a POST up to 3 times
    fal_simulator.reset()
    yield fal_simulator
    fal_simulator.reset()


def arguments(prompt="Waves roll in.", **overrides) -> dict:
    image = data_uri(make_image(480, 360))
    return {
        "prompt": prompt,
        "image_url": image,
        "resolution": "480p",
        "duration": "2",
        "aspect_ratio": "16:9",
        **overrides,
    }


def counter(simulator, name: str) -> int:
    return simulator.stats()["counters"].get(name, 0)


def completed(simulator, request_id: str):
    simulator.wait(request_id, timeout=60)
    return fal_gateway.status(request_id)


# --- 1. a paid submit leaves once --------------------------------------------------------


def test_fal_client_alone_re_sends_a_submit_whose_connection_reset_after_fal_queued_it(fal, monkeypatch):
    """The hazard: fal-client's own retry turns one submit into several paid jobs."""
    fal_gateway.configure_process()
    monkeypatch.setattr(fal_client.client, "MAX_ATTEMPTS", 3)
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{fal.base_url}/")
    fal.configure(rate_reset={"submit": 1.0})
    with pytest.raises(Exception):  # noqa: B017 - whichever transport error fal-client ends with
        fal_client.SyncClient(key=fal.fal_key).submit(ENDPOINT_ID, arguments())
    assert counter(fal, "requests_created") == 3


def test_a_submit_reset_after_fal_read_it_is_sent_once_and_is_uncertain(fal):
    fal.configure(rate_reset={"submit": 1.0})
    with pytest.raises(FalError) as caught:
        fal_gateway.submit(arguments())
    assert caught.value.uncertain and not caught.value.permanent
    assert counter(fal, "submits") == 1
    assert counter(fal, "requests_created") == 1  # queued at fal, and only once


def test_a_late_submit_answer_is_not_waited_for_twice_and_is_uncertain(fal, settings):
    settings.FAL_CLIENT_TIMEOUT = 1
    fal.configure(rate_hang={"submit": 1.0}, hang_seconds=3)
    with pytest.raises(FalError) as caught:
        fal_gateway.submit(arguments())
    assert caught.value.uncertain
    assert counter(fal, "requests_created") == 1


@pytest.mark.parametrize(
    ("fault", "status_code"),
    [("rate_429", 429), ("rate_500", 500), ("rate_502", 502)],
    ids=["429", "500", "ingress-502"],
)
def test_an_answer_proving_fal_did_not_queue_it_is_retryable_and_sent_once(fal, fault, status_code):
    fal.configure(**{fault: {"submit": 1.0}})
    with pytest.raises(FalError) as caught:
        fal_gateway.submit(arguments())
    error = caught.value
    assert not error.uncertain and not error.permanent  # Celery may retry it, with backoff
    assert error.status_code == status_code
    assert counter(fal, "submits") == 1  # fal-client's own re-send was stopped
    assert counter(fal, "requests_created") == 0


def test_status_result_and_cancel_calls_are_still_retried_by_fal_client(fal):
    request_id = fal_gateway.submit(arguments())
    fal.wait(request_id, timeout=60)
    fal.configure(random_seed=_dice(429, 200), rate_429={"status": 0.5})
    assert fal_gateway.status(request_id).state == "COMPLETED"
    assert counter(fal, "status_calls") == 2  # the first got a 429 and was sent again
    assert counter(fal, "faults_status_429") == 1
    fal.configure(random_seed=_dice(429, 200), rate_429={"result": 0.5})
    assert fal_gateway.result(request_id).video_url
    assert counter(fal, "faults_result_429") == 1


def _dice(*pattern: int) -> int:
    """A random_seed whose first rolls at a rate of 0.5 give `pattern` (429 = a fault, 200 = none)."""
    for seed in range(1000):
        rng = random.Random(seed)
        if [429 if rng.random() < 0.5 else 200 for _ in pattern] == list(pattern):
            return seed
    raise AssertionError("no such dice")


# --- 2. a request fal ended with an error is final --------------------------------------


@pytest.mark.parametrize(
    ("magic", "error_type", "status_code"),
    [
        ("[simulate:request_timeout]", "request_timeout", 504),
        ("[simulate:runner_error]", "runner_disconnected", 503),
        ("[simulate:500]", "runner_server_error", 500),
    ],
)
def test_completed_with_an_error_reports_fal_s_error_type_and_the_result_answers_5xx(
    fal, magic, error_type, status_code
):
    request_id = fal_gateway.submit(arguments(f"Waves {magic}"))
    state = completed(fal, request_id)
    assert (state.state, state.error_type) == ("COMPLETED", error_type)
    with pytest.raises(FalError) as caught:
        fal_gateway.result(request_id)
    assert caught.value.status_code == status_code and not caught.value.permanent
    failure = fal_gateway.failure_of(
        error=state.error, error_type=state.error_type, status_code=status_code, detail=None, started=True
    )
    assert failure.code == error_type and not failure.may_be_billed  # fal never bills a server error


# --- 6. content policy is its own failure ------------------------------------------------


def test_a_content_policy_refusal_keeps_fal_s_error_type(fal):
    request_id = fal_gateway.submit(arguments("A scene [simulate:content_policy]"))
    state = completed(fal, request_id)
    with pytest.raises(FalError) as caught:
        fal_gateway.result(request_id)
    assert caught.value.code == "content_policy_violation" and caught.value.status_code == 422
    failure = fal_gateway.failure_of(
        error=state.error,
        error_type=state.error_type,
        status_code=422,
        detail=caught.value.detail,
        started=True,
    )
    assert failure.code == "content_policy_violation"
    assert failure.may_be_billed  # a 422 after a runner started may be billed
    assert "flagged by a content checker" in failure.message


# --- 7 and 8. sizes, prices and seeds as Seedance gives them ----------------------------


@pytest.mark.parametrize("aspect_ratio", ["1:1", "21:9", "9:16"])
def test_the_video_has_the_published_size_so_the_settled_price_equals_the_estimate(fal, aspect_ratio, tmp_path):
    import httpx

    from generations import media

    request_id = fal_gateway.submit(arguments(aspect_ratio=aspect_ratio))
    completed(fal, request_id)
    output = fal_gateway.result(request_id)
    trust = ssl.create_default_context(cafile=fal_gateway.connection().ca_file)
    path = tmp_path / "video.mp4"
    path.write_bytes(httpx.get(output.video_url, verify=trust, timeout=30).content)
    facts = media.probe_video(str(path))
    assert (facts.width, facts.height) == seedance.output_size("480p", aspect_ratio)
    estimate = pricing.estimate(resolution="480p", aspect_ratio=aspect_ratio, duration=2)
    assert pricing.actual(width=facts.width, height=facts.height, seconds=facts.duration) == estimate


def test_seeds_above_2_31_go_to_fal_and_come_back(fal):
    request_id = fal_gateway.submit(arguments(seed=4_294_967_295))
    completed(fal, request_id)
    assert fal_gateway.result(request_id).seed == 4_294_967_295
    # A random seed may be any unsigned 32-bit value: find dice that roll one above 2^31.
    dice = next(s for s in range(1000) if random.Random(s).randint(0, 2**32 - 1) > 2**31)
    fal.configure(random_seed=dice)
    request_id = fal_gateway.submit(arguments(seed=-1))
    completed(fal, request_id)
    assert fal_gateway.result(request_id).seed > 2**31


# --- 5. where a video may come from ------------------------------------------------------


def test_a_video_url_must_be_https_on_fal_s_media_hosts(fal, settings):
    settings.FAL_MEDIA_HOSTS = ["fal.media"]
    assert fal_gateway.media_url_allowed("https://v3.fal.media/files/a/b.mp4")
    assert fal_gateway.media_url_allowed("https://fal.media/files/a/b.mp4")
    assert fal_gateway.media_url_allowed(f"{fal.base_url}/files/{'0' * 32}/v.mp4")  # the simulator, embedded mode
    for url in (
        "http://v3.fal.media/files/a/b.mp4",  # not https
        "https://evil.example/files/b.mp4",
        "https://fal.media.evil.example/b.mp4",
        "https://notfal.media/b.mp4",
        "https://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
    ):
        assert not fal_gateway.media_url_allowed(url), url
        with pytest.raises(FalError, match="not an https URL on fal's media hosts"):
            fal_gateway.parse_output({"video": {"url": url}, "seed": 1})
    settings.FAL_SIMULATED = False
    assert not fal_gateway.media_url_allowed(f"{fal.base_url}/files/{'0' * 32}/v.mp4")  # only in embedded mode

"""Errors as fal gives them: model 422s surface on the result; injected 429/500/502/hangs per route."""

from __future__ import annotations

import socket

import fal_client
import httpx
import pytest

from fal_simulator.server import ENDPOINT_ID

from .helpers import arguments


def fail_on_result(fal, args) -> fal_client.FalClientHTTPError:
    """Submit is accepted; the status ends COMPLETED with an error; the result raises the real error."""
    handle = fal.submit(ENDPOINT_ID, args)
    events = list(handle.iter_events(interval=0.02))
    assert isinstance(events[-1], fal_client.Completed)
    assert events[-1].error
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        handle.get()
    return error.value


def test_a_bad_enum_is_a_422_on_the_result(fal, image_uri):
    error = fail_on_result(fal, arguments(image_uri, aspect_ratio="5:4"))
    assert error.status_code == 422
    [item] = error.message  # fal-client hands over the `detail` list as is
    assert item["loc"] == ["body", "aspect_ratio"]
    assert item["type"] == "literal_error"
    assert item["input"] == "5:4"
    assert "'16:9'" in item["msg"]


@pytest.mark.parametrize(
    ("overrides", "field", "error_type"),
    [
        ({"prompt": None}, "prompt", "missing"),
        ({"prompt": "  "}, "prompt", "string_too_short"),
        ({"resolution": "4k"}, "resolution", "literal_error"),
        ({"duration": "13"}, "duration", "literal_error"),
        ({"duration": 1}, "duration", "literal_error"),
        ({"camera_fixed": "maybe"}, "camera_fixed", "bool_type"),
        ({"seed": "abc"}, "seed", "int_parsing"),
    ],
)
def test_input_validation_like_fal(fal, image_uri, overrides, field, error_type):
    args = {k: v for k, v in arguments(image_uri, **overrides).items() if v is not None}
    error = fail_on_result(fal, args)
    assert error.status_code == 422
    assert [(i["loc"], i["type"]) for i in error.message] == [(["body", field], error_type)]


def test_an_unreachable_image_url_is_a_422_on_image_url(fal):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = fail_on_result(fal, arguments(f"http://127.0.0.1:{port}/missing.png"))
    assert error.status_code == 422
    [item] = error.message
    assert item["loc"] == ["body", "image_url"]
    assert item["type"] == "file_download_error"


def test_a_url_that_is_not_an_image_is_a_422(fal):
    text_url = fal.upload(b"not a picture", "text/plain", "notes.txt")
    error = fail_on_result(fal, arguments(text_url))
    assert error.message[0]["type"] == "image_load_error"
    assert error.message[0]["loc"] == ["body", "image_url"]


def test_forced_422_by_prompt_and_by_switch(fal, sim, image_uri):
    assert fail_on_result(fal, arguments(image_uri, prompt="x [simulate:422]")).status_code == 422
    sim.configure(force_422=True)
    assert fail_on_result(fal, arguments(image_uri)).status_code == 422


def test_runner_errors_are_completed_with_error_then_5xx(fal, image_uri):
    error = fail_on_result(fal, arguments(image_uri, prompt="x [simulate:runner_error]"))
    assert error.status_code == 503
    assert error.error_type == "runner_disconnected"
    assert error.response_headers["x-fal-request-id"]  # so fal-client does not take it for an ingress error


def test_429s_are_retried_by_fal_client(fal, sim, image_uri):
    sim.configure(rate_429={"submit": 0.5, "status": 0.5, "result": 0.5}, random_seed=7)
    result = fal.subscribe(ENDPOINT_ID, arguments(image_uri), interval=0.02)
    assert result["video"]["url"]

    faults = sum(sim.counters.get(f"faults_{kind}_429") for kind in ("submit", "status", "result"))
    assert faults > 0
    # Every call the client made is counted, including the ones answered 429.
    assert sim.counters.get("status_calls") == sim.stats().get("responses", {}).get("status:200", 0) + sim.stats().get(
        "responses", {}
    ).get("status:202", 0) + sim.counters.get("faults_status_429")


def test_fault_fractions_are_reproducible_with_a_seed(sim, http):
    def pattern():
        sim.configure(rate_500={"status": 0.5}, random_seed=3)
        return [http.get("/fal-ai/bytedance/requests/x/status").status_code for _ in range(20)]

    first = pattern()
    assert set(first) == {404, 500}
    assert pattern() == first


def test_500s_are_not_retried(fal, sim, image_uri):
    handle = fal.submit(ENDPOINT_ID, arguments(image_uri))
    sim.wait(handle.request_id)
    sim.configure(rate_500={"result": 1.0})
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        fal.result(ENDPOINT_ID, handle.request_id)
    assert error.value.status_code == 500
    assert error.value.error_type == "internal_error"
    assert sim.counters.get("result_calls", handle.request_id) == 1


def test_ingress_502s_are_retried(fal, sim, image_uri):
    sim.configure(rate_502={"submit": 0.6}, random_seed=11)
    handles = [fal.submit(ENDPOINT_ID, arguments(image_uri)) for _ in range(3)]
    assert len({h.request_id for h in handles}) == 3
    assert sim.counters.get("faults_submit_502") > 0
    assert sim.counters.get("requests_created") == 3


def test_a_hanging_submit_still_queues_the_request(sim, http, image_uri):
    """The classic duplicate: the answer never arrives in time, but the job exists."""
    sim.configure(rate_hang={"submit": 1.0}, hang_seconds=3)
    with pytest.raises(httpx.ReadTimeout):
        http.post(f"/{ENDPOINT_ID}", json=arguments(image_uri), timeout=0.5)
    assert sim.counters.get("requests_created") == 1


def test_a_hanging_status_call(sim, http):
    sim.configure(rate_hang={"status": 1.0}, hang_seconds=3)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/fal-ai/bytedance/requests/x/status", timeout=0.5)
    sim.configure(rate_hang={})
    assert http.get("/fal-ai/bytedance/requests/x/status").status_code == 404

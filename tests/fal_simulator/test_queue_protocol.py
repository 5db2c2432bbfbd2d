"""The queue protocol as the real fal-client 1.0.3 uses it: submit, status, result, cancel."""

from __future__ import annotations

import fal_client
import pytest

from fal_simulator.server import ENDPOINT_ID

from .helpers import arguments, run_client, wait_until

MODEL_PAGE_EXAMPLE = r"""
import base64, json
import fal_client

image_url = "data:image/png;base64," + base64.b64encode(open({image!r}, "rb").read()).decode()
updates = []

def on_queue_update(update):
    if isinstance(update, fal_client.InProgress):
        for log in update.logs:
            updates.append(log["message"])

result = fal_client.subscribe(
    "fal-ai/bytedance/seedance/v1/pro/fast/image-to-video",
    arguments={{
        "prompt": "A astronaut turns towards the camera and smiles",
        "image_url": image_url,
        "resolution": "480p",
        "duration": "2",
    }},
    with_logs=True,
    on_queue_update=on_queue_update,
)
print(json.dumps({{"result": result, "logs": updates}}))
"""


def test_model_page_example_runs_unchanged_with_client_env(sim, tmp_path):
    from .helpers import make_image

    image = tmp_path / "still.png"
    image.write_bytes(make_image(400, 300))

    out = run_client(sim, MODEL_PAGE_EXAMPLE.format(image=str(image)))

    video = out["result"]["video"]
    assert video["url"].startswith(f"{sim.base_url}/files/")
    assert video["content_type"] == "video/mp4"
    assert video["file_name"] == "video.mp4"
    assert video["file_size"] > 1000
    assert isinstance(out["result"]["seed"], int)
    assert any("Generating 480p video" in line for line in out["logs"])
    assert sim.counters.get("submits") == 1
    assert sim.counters.get("result_calls") == 1


def test_submit_status_result_round_trip(fal, sim, image_uri):
    handle = fal.submit(ENDPOINT_ID, arguments(image_uri, seed=1234))

    assert handle.status_url == f"{sim.base_url}/fal-ai/bytedance/requests/{handle.request_id}/status"
    events = list(handle.iter_events(with_logs=True, interval=0.02))
    assert isinstance(events[-1], fal_client.Completed)
    completed = events[-1]
    assert completed.error is None
    assert completed.metrics["inference_time"] >= 0
    assert any(log["message"] == "Request completed" for log in completed.logs)
    assert all({"message", "level", "source", "timestamp"} <= set(log) for log in completed.logs)

    result = fal.result(ENDPOINT_ID, handle.request_id)  # by id, as a worker would after a restart
    assert result["seed"] == 1234
    assert result == handle.get()

    status = fal.status(ENDPOINT_ID, handle.request_id, with_logs=False)
    assert isinstance(status, fal_client.Completed) and status.logs is None


def test_http_details_status_codes_headers_and_logs_param(http, sim, image_uri):
    submitted = http.post(f"/{ENDPOINT_ID}", json=arguments(image_uri, prompt="slow [simulate:sleep=1]"))
    assert submitted.status_code == 200
    body = submitted.json()
    rid = body["request_id"]
    assert submitted.headers["x-fal-request-id"] == rid
    assert body["status"] == "IN_QUEUE" and body["queue_position"] == 0
    assert "gateway_request_id" not in body
    assert body["cancel_url"].endswith(f"/requests/{rid}/cancel")

    running = wait_until(
        lambda: (
            (r := http.get(f"/fal-ai/bytedance/requests/{rid}/status?logs=1")).json()["status"] == "IN_PROGRESS" and r
        )
    )
    assert running.status_code == 202
    assert isinstance(running.json()["logs"], list)
    assert http.get(f"/fal-ai/bytedance/requests/{rid}/status?logs=0").json()["logs"] is None

    early = http.get(f"/fal-ai/bytedance/requests/{rid}")
    assert early.status_code == 400
    assert early.json() == {"detail": "Request is still in progress"}

    sim.wait(rid)
    done = http.get(f"/fal-ai/bytedance/requests/{rid}/status", params={"logs": "true"})
    assert done.status_code == 200
    assert done.json()["status"] == "COMPLETED"
    assert done.headers["x-fal-request-id"] == rid
    # The endpoint's full path is accepted too, not only owner/alias.
    assert http.get(f"/{ENDPOINT_ID}/requests/{rid}").json()["video"]["url"]


def test_unknown_request_ids_are_404(fal, http):
    with pytest.raises(fal_client.FalClientHTTPError) as status_error:
        fal.status(ENDPOINT_ID, "00000000-0000-0000-0000-000000000000")
    assert status_error.value.status_code == 404

    with pytest.raises(fal_client.FalClientHTTPError) as cancel_error:
        fal.cancel(ENDPOINT_ID, "00000000-0000-0000-0000-000000000000")
    assert cancel_error.value.status_code == 404
    assert http.get("/fal-ai/bytedance/requests/nope").status_code == 404


def test_it_requires_a_fal_key(sim, http, image_uri, fal, monkeypatch):
    missing = http.post(f"/{ENDPOINT_ID}", json=arguments(image_uri), headers={"Authorization": ""})
    assert missing.status_code == 401
    assert "detail" in missing.json()
    assert "x-fal-request-id" in missing.headers

    wrong = fal_client.SyncClient(key="someone:else")
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        wrong.submit(ENDPOINT_ID, arguments(image_uri))
    assert error.value.status_code == 401
    assert error.value.message == "No user found for Key ID and Secret"
    assert sim.counters.get("requests_created") == 0


def test_queue_positions_with_concurrency_1(sim, fal, image_uri):
    sim.configure(concurrency=1)
    first = fal.submit(ENDPOINT_ID, arguments(image_uri, prompt="first [simulate:sleep=1.5]"))
    second = fal.submit(ENDPOINT_ID, arguments(image_uri, prompt="second"))
    third = fal.submit(ENDPOINT_ID, arguments(image_uri, prompt="third"))

    wait_until(lambda: isinstance(first.status(), fal_client.InProgress))
    assert second.status() == fal_client.Queued(position=0)
    assert third.status() == fal_client.Queued(position=1)

    # Cancelling a queued request removes it at once; the one behind it moves up.
    third.cancel()
    assert isinstance(third.status(), fal_client.Completed)
    assert second.status() == fal_client.Queued(position=0)

    assert second.get(interval=0.02)["video"]["url"]
    assert isinstance(first.status(), fal_client.Completed)


def test_a_cancelled_request_completes_with_client_cancelled(sim, fal, http, image_uri):
    sim.configure(concurrency=1)
    blocker = fal.submit(ENDPOINT_ID, arguments(image_uri, prompt="blocker [simulate:sleep=1]"))
    queued = fal.submit(ENDPOINT_ID, arguments(image_uri))
    queued.cancel()

    status = queued.status(with_logs=True)
    assert isinstance(status, fal_client.Completed)
    assert status.error_type == "client_cancelled"
    assert status.metrics == {}  # it never ran
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        queued.get()
    assert error.value.status_code == 499
    assert error.value.error_type == "client_cancelled"
    assert sim.counters.get("result_calls", queued.request_id) == 1  # 499 is not retried

    again = http.put(f"/fal-ai/bytedance/requests/{queued.request_id}/cancel")
    assert again.status_code == 400
    assert again.json() == {"status": "ALREADY_COMPLETED"}
    blocker.get(interval=0.02)


@pytest.mark.parametrize("honour_cancel", [False, True])
def test_cancelling_a_running_request_is_only_a_signal_unless_honoured(sim, fal, http, image_uri, honour_cancel):
    sim.configure(honour_cancel=honour_cancel)
    handle = fal.submit(ENDPOINT_ID, arguments(image_uri, prompt="long one [simulate:sleep=1]"))
    wait_until(lambda: isinstance(handle.status(), fal_client.InProgress))

    answer = http.put(f"/fal-ai/bytedance/requests/{handle.request_id}/cancel")
    assert answer.status_code == 202
    assert answer.json() == {"status": "CANCELLATION_REQUESTED"}

    job = sim.wait(handle.request_id)
    if honour_cancel:
        assert job.inference_time < 1
        with pytest.raises(fal_client.FalClientHTTPError) as error:
            handle.get(interval=0.02)
        assert error.value.status_code == 499
    else:
        assert handle.get(interval=0.02)["video"]["url"]
    with pytest.raises(fal_client.FalClientHTTPError) as late:
        handle.cancel()
    assert late.value.status_code == 400
    assert "ALREADY_COMPLETED" in late.value.message


def test_start_timeout_expires_a_request_still_queued(sim, fal, image_uri):
    sim.configure(concurrency=1)
    blocker = fal.submit(ENDPOINT_ID, arguments(image_uri, prompt="blocker [simulate:sleep=2.5]"))
    waiting = fal.submit(ENDPOINT_ID, arguments(image_uri), start_timeout=1.2)

    status = wait_until(lambda: isinstance(s := waiting.status(), fal_client.Completed) and s, timeout=5)
    assert status.error_type == "request_timeout"
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        waiting.get()
    assert error.value.status_code == 504
    assert error.value.response_headers["x-fal-request-timeout-type"] == "user"
    blocker.cancel()

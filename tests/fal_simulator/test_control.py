"""Switches: the dataclass, and the run-time control endpoints (/_simulator/config, stats, reset)."""

from __future__ import annotations

import pytest

from fal_simulator.faults import FaultDice, SwitchError, Switches

from .helpers import arguments


def test_rates_accept_a_number_a_dict_or_a_spec():
    assert Switches().updated({"rate_429": 0.5}).rate_429 == dict.fromkeys(
        ["submit", "status", "result", "cancel", "upload"], 0.5
    )
    assert Switches().updated({"rate_429": {"status": 0.3}}).rate_429 == {"status": 0.3}
    assert Switches().updated({"rate_500": "status=0.2,result=0.1"}).rate_500 == {"status": 0.2, "result": 0.1}


@pytest.mark.parametrize(
    "changes",
    [
        {"nope": 1},
        {"concurrency": 0},
        {"rate_429": {"status": 1.5}},
        {"rate_429": {"teleport": 0.1}},
        {"rate_429": {"status": 0.6}, "rate_500": {"status": 0.6}},
        {"video_fault": "melted"},
        {"force_422": "perhaps"},
    ],
)
def test_bad_switches_are_refused(changes):
    with pytest.raises(SwitchError):
        Switches().updated(changes)


def test_dice_follow_the_rates():
    dice = FaultDice(1)
    switches = Switches().updated({"rate_429": {"status": 0.25}, "rate_500": {"status": 0.25}})
    rolls = [dice.roll(switches, "status") for _ in range(2000)]
    assert 400 < rolls.count("429") < 600
    assert 400 < rolls.count("500") < 600
    assert dice.roll(switches, "result") is None


def test_config_endpoint_changes_switches_at_run_time(sim, http):
    answer = http.post("/_simulator/config", json={"concurrency": 2, "rate_429": {"status": 0.1}})
    assert answer.status_code == 200
    assert answer.json()["concurrency"] == 2
    assert sim.switches.rate_429 == {"status": 0.1}
    assert http.get("/_simulator/config").json()["rate_429"] == {"status": 0.1}

    refused = http.post("/_simulator/config", json={"concurency": 2})
    assert refused.status_code == 400
    assert "concurency" in refused.json()["detail"]


def test_stats_and_reset(sim, http, image_uri):
    submitted = http.post("/fal-ai/bytedance/seedance/v1/pro/fast/image-to-video", json=arguments(image_uri)).json()
    rid = submitted["request_id"]
    sim.wait(rid)
    http.get(f"/fal-ai/bytedance/requests/{rid}/status")
    http.get(f"/fal-ai/bytedance/requests/{rid}")
    http.put(f"/fal-ai/bytedance/requests/{rid}/cancel")
    http.post("/_simulator/config", json={"force_422": True})

    stats = http.get("/_simulator/stats").json()
    assert stats["counters"]["submits"] == 1
    per_request = stats["requests"][rid]
    assert {k: per_request[k] for k in ("requests_created", "status_calls", "result_calls", "cancels")} == {
        "requests_created": 1,
        "status_calls": 1,
        "result_calls": 1,
        "cancels": 1,
    }
    assert per_request.get("renders", 0) + per_request.get("render_cache_hits", 0) == 1
    assert stats["responses"]["cancel:400"] == 1
    assert stats["queue"] == {"queued": 0, "running": 0, "known": 1}

    info = http.get(f"/_simulator/requests/{rid}").json()
    assert info["state"] == "COMPLETED"
    assert info["outcome"]["status_code"] == 200

    assert http.post("/_simulator/reset").json()["config"]["force_422"] is False
    assert http.get("/_simulator/stats").json()["counters"] == {}

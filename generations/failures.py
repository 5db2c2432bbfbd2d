"""Why a generation failed, in words: one phrase per error code, for every page and the dashboard.

The code stays on the row (scripts and filters use it); people read the phrase, then the
message, which says the specifics. A code with no phrase here (a new fal error type) is
shown as its own words ("runner_oom" → "Runner oom") rather than hidden.
"""

from __future__ import annotations

WORDS = {
    # fal ended the request with an error (its error_type is kept as the code).
    "content_policy_violation": "Refused by fal's content checker",
    "invalid_input": "fal refused the input",
    "request_timeout": "fal did not start it in time",
    "startup_timeout": "fal's runner did not start in time",
    "runner_scheduling_failure": "fal could not find a runner",
    "runner_connection_timeout": "fal could not reach its runner",
    "runner_connection_refused": "fal could not reach its runner",
    "runner_connection_error": "fal lost its runner",
    "runner_disconnected": "fal's runner disconnected",
    "runner_incomplete_response": "fal's runner stopped mid-answer",
    "runner_server_error": "fal's runner failed",
    "internal_error": "fal had an internal error",
    "client_cancelled": "Cancelled at fal",
    "client_disconnected": "fal lost the connection to the request",
    "fal_error": "fal reported an error",
    # Talking to fal.
    "image_transport": "The source image could not be made reachable by fal",
    "submit_uncertain": "Unknown whether fal received it",
    "fal_result_unavailable": "fal finished, but the video could not be fetched yet",
    "fal_bad_output": "fal's answer had no usable video",
    "fal_auth": "fal refused the API key",
    "fal_server_error": "fal had a server error",
    "fal_no_answer": "fal did not answer",
    "fal_unreachable": "fal could not be reached",
    "fal_protocol": "fal's answer was not understood",
    "fal_http_error": "fal refused the request",
    "rate_limited": "fal was busy",
    "not_found": "fal does not know the request",
    "simulator_not_running": "The local fal simulator is not running",
    # Archiving the video.
    "download_failed": "The video could not be downloaded",
    "truncated": "The download was cut off",
    "too_large": "The video is too large",
    "url_not_allowed": "The video was not on fal's media hosts",
    "not_mp4": "The download is not an MP4 video",
    "no_video_stream": "The download has no video in it",
    "undecodable": "The video cannot be decoded",
    "duration_mismatch": "The video has the wrong length",
    "storage_unavailable": "Our storage could not be reached",
    "storage_rejected": "Our storage refused the video",
    "storage_conflict": "Our storage kept the video under another name",
    "cancelled": "Cancelled",
}


def words_for(code: str) -> str:
    """The phrase for an error code ("" for none)."""
    if not code:
        return ""
    return WORDS.get(code) or code.replace("_", " ").strip().capitalize()

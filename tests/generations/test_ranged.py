import io

import pytest
from django.test import RequestFactory

from generations.ranged import parse_range, ranged_file_response


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=900-5000", (900, 999)),
        ("bytes=1000-", False),
        ("bytes=50-10", False),
        ("bytes=-0", False),
        ("bytes=0-1,5-9", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


def _get(header=None):
    request = RequestFactory().get("/media/x.mp4", **({"HTTP_RANGE": header} if header else {}))
    return ranged_file_response(request, io.BytesIO(bytes(range(256)) * 4), name="x.mp4", size=1024)


def test_a_range_gets_206_with_the_slice():
    response = _get("bytes=10-19")
    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 10-19/1024"
    assert response["Content-Type"] == "video/mp4"
    assert b"".join(response.streaming_content) == bytes(range(10, 20))


def test_no_range_gets_the_whole_file_and_advertises_ranges():
    response = _get()
    assert response.status_code == 200 and response["Accept-Ranges"] == "bytes"
    assert len(b"".join(response.streaming_content)) == 1024


def test_an_unsatisfiable_range_gets_416():
    response = _get("bytes=5000-")
    assert response.status_code == 416 and response["Content-Range"] == "bytes */1024"

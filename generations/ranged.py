"""HTTP Range for files served by Django (the private local media in embedded mode).

Browsers fetch videos in ranges to seek and scrub; Django's FileResponse always sends
the whole file. One range ("bytes=a-b", "bytes=a-", "bytes=-n") gets a 206 with the
slice, streamed in chunks; anything else (none, several, unparseable) gets the whole
file; a range past the end gets 416.
"""

from __future__ import annotations

import mimetypes
import re
from typing import IO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(first, last) inclusive; None for "serve it all"; False when unsatisfiable."""
    match = _RANGE.match(header.strip()) if header else None
    if not match or match.groups() == ("", ""):
        return None
    start, end = match.groups()
    if start == "":  # the last n bytes
        length = int(end)
        if length == 0:
            return False
        return max(0, size - length), size - 1
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if first >= size or last < first:
        return False
    return first, last


def _slice(fh: IO[bytes], first: int, last: int):
    try:
        fh.seek(first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = fh.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        fh.close()


def ranged_file_response(request: HttpRequest, fh: IO[bytes], *, name: str, size: int) -> HttpResponse:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    wanted = parse_range(request.headers.get("Range", ""), size)
    if wanted is False:
        fh.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if wanted is None:
        response = FileResponse(fh, content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = wanted
    response = StreamingHttpResponse(_slice(fh, first, last), status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    return response

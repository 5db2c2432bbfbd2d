"""The S3 storage the app uses: django-storages' S3Storage, uploading files on disk from their path.

S3Storage hands every file to boto3's `upload_fileobj`, which reads each multipart part
into memory before sending it. An archived video is a temporary file on disk; boto3's
`upload_file` reads its parts from the file as it sends them, so a worker archiving a
1 GB video needs no more memory than for a 20 MB one (bench/archive_throughput.py).
"""

from __future__ import annotations

import os

from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class S3FileStorage(S3Storage):
    def _save(self, name, content):
        path = _path_on_disk(content)
        cleaned_name = clean_name(name)
        key = self._normalize_name(cleaned_name)
        params = self._get_write_parameters(key, content)
        if path is None or (self.gzip and params["ContentType"] in self.gzip_content_types):
            return super()._save(name, content)
        self.bucket.Object(key).upload_file(path, ExtraArgs=params, Config=self.transfer_config)
        return cleaned_name


def _path_on_disk(content) -> str | None:
    """The path of a regular file holding exactly `content`'s bytes, or None."""
    file = getattr(content, "file", content)
    path = getattr(file, "name", None)
    if not isinstance(path, str) or not os.path.isfile(path):
        return None
    if hasattr(file, "flush"):
        file.flush()  # what was written through the handle is in the file
    size = getattr(content, "size", None)
    return path if size == os.path.getsize(path) else None

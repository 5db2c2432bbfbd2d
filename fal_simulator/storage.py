"""The simulator's "CDN": uploaded files and rendered videos, kept under state_dir/files/<id>/<name>.

Files survive restarts, so video URLs in a database stay valid while the state dir lives.
Upload tokens (fal's `/storage/auth/token`) are stateless HMACs over their expiry with a
secret kept in the state dir, so a client's cached token also survives a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import os
import re
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .tls import state_lock, write_private

TOKEN_SECRET_FILE = "upload-token-secret"  # noqa: S105 - a file name, not a secret
TOKEN_LIFETIME = 3600
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class StoredFile:
    path: Path
    name: str
    content_type: str
    size: int
    kind: str  # "upload" or "video"


def safe_name(name: str | None, content_type: str) -> str:
    name = _SAFE_NAME.sub("_", os.path.basename(name or "")).strip("._")[:100]
    if not name:
        ext = mimetypes.guess_extension((content_type or "").split(";")[0].strip()) or ".bin"
        name = f"upload{ext}"
    return name


class FileStore:
    def __init__(self, state_dir: Path):
        self.root = state_dir / "files"
        self.root.mkdir(parents=True, exist_ok=True)
        secret_path = state_dir / TOKEN_SECRET_FILE
        with state_lock(state_dir):
            if not secret_path.exists():
                write_private(secret_path, secrets.token_bytes(32))
        self._secret = secret_path.read_bytes()

    def _new_dir(self) -> tuple[str, Path]:
        file_id = uuid.uuid4().hex
        directory = self.root / file_id
        directory.mkdir()
        return file_id, directory

    def _write_meta(self, directory: Path, content_type: str, kind: str) -> None:
        (directory / ".meta.json").write_text(json.dumps({"content_type": content_type, "kind": kind}))

    def put_bytes(self, data: bytes, *, file_name: str | None, content_type: str, kind: str = "upload") -> str:
        """Stores data; returns its path below /files/ ("<id>/<name>")."""
        name = safe_name(file_name, content_type)
        file_id, directory = self._new_dir()
        (directory / name).write_bytes(data)
        self._write_meta(directory, content_type, kind)
        return f"{file_id}/{name}"

    def put_file(self, source: Path, *, file_name: str, content_type: str, kind: str = "video") -> str:
        """Publishes a file (a cached render) under a new id; a hard link when possible, no copy."""
        name = safe_name(file_name, content_type)
        file_id, directory = self._new_dir()
        try:
            os.link(source, directory / name)
        except OSError:
            shutil.copyfile(source, directory / name)
        self._write_meta(directory, content_type, kind)
        return f"{file_id}/{name}"

    def reserve(self, *, file_name: str | None, content_type: str) -> str:
        """An id/name for a file that arrives later (fal's GCS-style "initiate, then PUT" upload)."""
        name = safe_name(file_name, content_type)
        file_id, directory = self._new_dir()
        self._write_meta(directory, content_type, "upload")
        return f"{file_id}/{name}"

    def fill(self, rel: str, data: bytes) -> bool:
        directory, name = self._split(rel)
        if directory is None or not (directory / ".meta.json").exists():
            return False
        (directory / name).write_bytes(data)
        return True

    def _split(self, rel: str) -> tuple[Path | None, str]:
        file_id, _, name = rel.partition("/")
        if not re.fullmatch(r"[0-9a-f]{32}", file_id) or not name or name != safe_name(name, ""):
            return None, ""
        return self.root / file_id, name

    def get(self, rel: str) -> StoredFile | None:
        directory, name = self._split(rel)
        if directory is None:
            return None
        path = directory / name
        try:
            meta = json.loads((directory / ".meta.json").read_text())
            size = path.stat().st_size
        except (OSError, ValueError):
            return None
        return StoredFile(
            path, name, meta.get("content_type") or "application/octet-stream", size, meta.get("kind", "upload")
        )

    # Upload tokens ---------------------------------------------------------

    def issue_token(self, now: float | None = None) -> tuple[str, int]:
        expires = int((time.time() if now is None else now) + TOKEN_LIFETIME)
        mac = hmac.new(self._secret, str(expires).encode(), hashlib.sha256).hexdigest()
        return f"{expires}.{mac}", expires

    def token_valid(self, token: str) -> bool:
        expires, _, mac = token.partition(".")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        expected = hmac.new(self._secret, expires.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, expected)

    def sign_path(self, rel: str) -> str:
        return hmac.new(self._secret, f"put:{rel}".encode(), hashlib.sha256).hexdigest()

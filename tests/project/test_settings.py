"""Settings in both modes, each loaded in a fresh process with a controlled environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

BASE_DIR = str(settings.BASE_DIR)
PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "debug": settings.DEBUG,
    "engine": db["ENGINE"],
    "db_name": db["NAME"],
    "storage": settings.STORAGES["default"]["BACKEND"],
    "storage_options": settings.STORAGES["default"].get("OPTIONS", {}),
    "broker": settings.CELERY_BROKER_URL,
    "result_backend": settings.CELERY_RESULT_BACKEND,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
}, default=str))
"""

PRODUCTION_ENV = {
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-0123456789-abcdefghijkl",
    "DATABASE_URL": "postgres://studio:pw@db.internal:5432/studio",
    "CELERY_BROKER_URL": "redis://:brokerpw@redis.internal:6379/0",
    "AWS_STORAGE_BUCKET_NAME": "studio-media",
    "AWS_S3_REGION_NAME": "eu-west-1",
    "AWS_S3_ENDPOINT_URL": "https://s3.example.com",
    "AWS_S3_ADDRESSING_STYLE": "path",
    "AWS_S3_KEY_PREFIX": "studio",
    "AWS_QUERYSTRING_EXPIRE": "600",
    "ALLOWED_HOSTS": "studio.example.com",
    "FAL_KEY": "fal-production-key-0000",
}


def _run(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "SEEDANCE_ENV_FILE": "", "SEEDANCE_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def _settings_with(env: dict[str, str], tmp_path) -> dict:
    result = _run(["-c", PROBE], {"DJANGO_SETTINGS_MODULE": "seedance_studio.settings", **env}, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_defaults_need_no_server(tmp_path):
    loaded = _settings_with({"SECRET_KEY": "x"}, tmp_path)
    assert loaded["debug"] is False
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["db_name"] == str(tmp_path / "var" / "db.sqlite3")
    assert loaded["storage"] == "django.core.files.storage.FileSystemStorage"
    assert loaded["storage_options"]["location"] == str(tmp_path / "var" / "media")
    assert loaded["broker"] == "filesystem://"
    assert loaded["result_backend"].startswith("file://")
    assert (tmp_path / "var" / "celery" / "broker").is_dir()


def test_production_is_configured_by_environment(tmp_path):
    loaded = _settings_with(PRODUCTION_ENV, tmp_path)
    assert loaded["debug"] is False
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["db_name"] == "studio"
    assert loaded["storage"] == "generations.storage.S3FileStorage"
    options = loaded["storage_options"]
    assert options["bucket_name"] == "studio-media"
    assert options["endpoint_url"] == "https://s3.example.com"
    assert options["addressing_style"] == "path"
    assert options["location"] == "studio"
    assert options["querystring_expire"] == 600
    assert options["default_acl"] is None and options["querystring_auth"] is True
    assert loaded["broker"] == PRODUCTION_ENV["CELERY_BROKER_URL"]
    assert loaded["allowed_hosts"] == ["studio.example.com"]
    assert loaded["ssl_redirect"] is True


def test_missing_secret_key_is_a_clear_startup_error(tmp_path):
    result = _run(["manage.py", "check"], {}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_malformed_boolean_is_a_clear_error(tmp_path):
    result = _run(["manage.py", "check"], {"SECRET_KEY": "x", "DEBUG": "maybe"}, tmp_path)
    assert result.returncode != 0
    assert "DEBUG must be true or false, not 'maybe'" in result.stderr


def test_dotenv_file_is_read_and_real_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\nSECRET_KEY=from-file\nALLOWED_HOSTS=from.file\n")
    loaded = _settings_with({"SEEDANCE_ENV_FILE": str(env_file), "ALLOWED_HOSTS": "from.env"}, tmp_path)
    assert loaded["debug"] is True
    assert loaded["ssl_redirect"] is False
    assert loaded["allowed_hosts"] == ["from.env"]


def test_check_deploy_passes_with_a_production_like_environment(tmp_path):
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV, tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_migrations_are_complete(tmp_path):
    result = _run(["manage.py", "makemigrations", "--check", "--dry-run"], {"SECRET_KEY": "x"}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

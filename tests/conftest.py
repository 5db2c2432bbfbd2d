"""Shared fixtures: users, images, and real processes (a Celery worker) on the configured services.

The services are whatever the environment configures: embedded defaults
(SQLite file, file broker) by default, PostgreSQL and Redis when CI sets
DATABASE_URL and CELERY_BROKER_URL. A configured service that cannot be
reached fails the run; nothing is skipped for it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image

from generations import services
from generations.models import Generation
from seedance_studio.celery import app as celery_app
from tests.s3_server import S3Server

BASE_DIR = Path(settings.BASE_DIR)
OUTPUT_DIR = BASE_DIR / "test-output"


def make_image_bytes(width: int = 480, height: int = 360, fmt: str = "PNG", colour=(200, 80, 40), **save) -> bytes:
    """A real image, built in memory (no binary fixtures)."""
    image = Image.new("RGB", (width, height), colour)
    # A gradient stripe, so different sizes/colours give different bytes and real content.
    for x in range(0, width, 8):
        image.putpixel((x, height // 2), (x % 256, 255 - x % 256, 128))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def image_bytes() -> bytes:
    return make_image_bytes()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-password")


@pytest.fixture
def source_image(db, alice):
    image, _ = services.source_image_ingest(
        file=io.BytesIO(make_image_bytes()), filename="still.png", uploaded_by=alice
    )
    return image


@pytest.fixture
def prompt(db, alice):
    prompt, _ = services.prompt_get_or_create(text="A slow zoom over the hills at dawn.", created_by=alice)
    return prompt


@pytest.fixture
def generation(source_image, prompt, alice):
    return services.generation_create(
        source_image=source_image, prompt=prompt, params=services.GenerationParams(), requested_by=alice
    )


def team_member(django_user_model, name: str, group: str | None, **extra):
    """A user in one of the team's groups ("viewer", "generator"), password "<name>-password"."""
    from django.contrib.auth.models import Group

    from generations.roles import ensure_groups

    ensure_groups()  # post_migrate made them; idempotent
    user = django_user_model.objects.create_user(name, f"{name}@example.com", f"{name}-password", **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def viewer(db, django_user_model):
    return team_member(django_user_model, "vera", "viewer")


@pytest.fixture
def generator(db, django_user_model):
    return team_member(django_user_model, "gene", "generator")


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def generator_client(client, generator):
    client.force_login(generator)
    return client


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: no rate-limit count (or cached key set) carries over
    from another test (SQLite hands the same user ids out again) or an earlier run."""
    from django.core.cache import cache

    with contextlib.suppress(Exception):  # a fault test may have stopped the cache's Redis
        cache.clear()


@pytest.fixture(autouse=True)
def _media_in_tmp(request, settings, tmp_path):
    """Unit tests write media into a fresh folder; worker tests share the configured one."""
    if request.node.get_closest_marker("worker") or settings.STORAGES["default"]["BACKEND"].endswith("S3Storage"):
        return
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": "/media/"},
        },
    }


def database_url_for_tests() -> str:
    """A URL for the test database (the one pytest-django created), for child processes."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@contextlib.contextmanager
def running_worker(*, name: str, extra_env: dict[str, str] | None = None, queue: str | None = None, beat: bool = False):
    """A real `celery worker` process on the configured broker and the test database.

    It consumes a queue of its own (or `queue`, to take over a killed worker's), so no
    other worker on the same broker takes its tasks; this process sends to that queue
    while it runs. `beat` embeds the scheduler (the reconcile sweep). Its log goes to
    test-output/.
    """
    queue = queue or f"{name}-{uuid.uuid4().hex[:8]}"
    previous_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    env = {
        **os.environ,
        **(extra_env or {}),
        "DATABASE_URL": database_url_for_tests(),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "SEEDANCE_ENV_FILE": "",
    }
    OUTPUT_DIR.mkdir(exist_ok=True)
    log_path = OUTPUT_DIR / f"{name}-worker.log"
    celery = shutil.which("celery", path=str(Path(sys.executable).parent))
    command = [
        celery,
        "-A",
        "seedance_studio",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "2",
        "--queues",
        queue,
        "--hostname",
        f"{queue}-{uuid.uuid4().hex[:4]}@%h",
        "--without-mingle",
        "--without-gossip",
    ]
    schedule_dir = None
    if beat:
        schedule_dir = Path(settings.VAR_DIR) / "beat" / uuid.uuid4().hex[:8]
        schedule_dir.mkdir(parents=True)
        command += ["--beat", "--schedule", str(schedule_dir / "schedule")]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.queue = queue
    broker = env.get("CELERY_BROKER_URL") or settings.CELERY_BROKER_URL
    try:
        try:
            with sender_for(broker) as send:
                send("generations.ping", queue=queue).get(timeout=60)
        except Exception as exc:
            raise RuntimeError(
                f"The Celery worker did not answer within 60 s on {broker.split('@')[-1]}: {exc!r}. See {log_path}."
            ) from exc
        yield process
    finally:
        celery_app.conf.task_default_queue = previous_queue
        stop_worker(process)
        if schedule_dir:
            shutil.rmtree(schedule_dir, ignore_errors=True)


@contextlib.contextmanager
def sender_for(broker_url: str):
    """A function sending a task by name through `broker_url` (to another broker than this process's, too).

    Celery prefers the CELERY_BROKER_URL / CELERY_RESULT_BACKEND environment variables to an
    app's own settings, so the connection and the result backend are given explicitly."""
    if broker_url == settings.CELERY_BROKER_URL:
        yield lambda name, args=(), queue=None: celery_app.send_task(name, args=args, queue=queue)
        return
    from celery import Celery
    from celery.backends.redis import RedisBackend

    app = Celery("tests", set_as_current=False)
    backend = RedisBackend(app=app, url=broker_url)
    connection = app.connection_for_write(broker_url)

    def send(name, args=(), queue=None):
        sent = app.send_task(name, args=args, queue=queue, connection=connection)
        return app.AsyncResult(sent.id, backend=backend)

    try:
        yield send
    finally:
        connection.release()
        app.close()


def stop_worker(process: subprocess.Popen, *, kill: bool = False) -> None:
    """SIGTERM (a warm shutdown), or SIGKILL to the worker and its pool processes at once."""
    if process.poll() is not None:
        return
    if kill:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    with running_worker(name="basic") as process:
        yield process


@contextlib.contextmanager
def tasks_sent_to(queue: str):
    """This test's tasks go to `queue` (each session worker has its own; the last one started
    would otherwise take every task), restored afterwards."""
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        yield
    finally:
        celery_app.conf.task_default_queue = previous


@pytest.fixture
def basic_worker(celery_worker_process):
    """The session's plain worker, with this test's tasks sent to it."""
    with tasks_sent_to(celery_worker_process.queue):
        yield celery_worker_process


# --- The real parts for end-to-end tests -------------------------------------
# The fal simulator over HTTPS (its client.env tells our gateway, in this process and
# in the worker, where it is and which CA to trust: the real fal-client path);
# SeaweedFS as S3 on loopback; the live server receiving fal's signed webhooks; and a
# real `celery worker` process on the configured broker and the test database.

# Fast cadences for tests; production defaults are in settings.py.
PIPELINE_ENV = {
    "FAL_POLL_MIN_INTERVAL": "0.5",
    "FAL_POLL_MAX_INTERVAL": "2",
    "FAL_WEBHOOK_POLL_FALLBACK": "4",
    "ARCHIVE_MAX_ATTEMPTS": "2",
    "FAL_SUBMIT_MAX_RETRIES": "4",
}


@pytest.fixture(scope="session")
def fal_simulator():
    from fal_simulator.server import FalSimulator

    simulator = FalSimulator(port=0, state_dir=settings.FAL_SIMULATOR_STATE_DIR)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def s3():
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
def pipeline_worker(django_db_setup, django_db_blocker, fal_simulator, s3, live_server):
    """A worker that talks to the simulator, stores into S3 and asks for webhooks to the live server."""
    extra = {**s3.env(), **PIPELINE_ENV, "PUBLIC_BASE_URL": live_server.url}
    with running_worker(name="pipeline", extra_env=extra) as process:
        yield process


@pytest.fixture
def sim(pipeline_worker, fal_simulator, s3, live_server, settings):
    """This process sees what the worker sees: the same S3 bucket, webhook base URL and cadences,
    and sends this test's tasks to it (a session worker started later may have taken the default queue)."""
    settings.STORAGES = {**settings.STORAGES, "default": s3.storages_settings()}
    settings.PUBLIC_BASE_URL = live_server.url
    settings.FAL_POLL_MIN_INTERVAL = float(PIPELINE_ENV["FAL_POLL_MIN_INTERVAL"])
    settings.FAL_POLL_MAX_INTERVAL = float(PIPELINE_ENV["FAL_POLL_MAX_INTERVAL"])
    settings.FAL_WEBHOOK_POLL_FALLBACK = float(PIPELINE_ENV["FAL_WEBHOOK_POLL_FALLBACK"])
    settings.ARCHIVE_MAX_ATTEMPTS = int(PIPELINE_ENV["ARCHIVE_MAX_ATTEMPTS"])
    fal_simulator.reset()
    with tasks_sent_to(pipeline_worker.queue):
        yield fal_simulator


# A fixed moment for rows made with explicit timestamps (gallery, library, compare tests).
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def generation_rows(source_image, prompt, *, default_status: str):
    """A factory: make(created_at=T0, status=default_status, **fields) -> a Generation row, no task queued."""

    def make(created_at: datetime = T0, status: str = default_status, *, prompt_text: str | None = None, **fields):
        if status == Generation.Status.COMPLETED:
            fields.setdefault("video", "generations/2026/03/x.mp4")
            fields.setdefault("video_sha256", "a" * 64)
        fields.setdefault("source_image", source_image)
        fields.setdefault("prompt", prompt)
        return Generation.objects.create(
            prompt_text=prompt_text or fields["prompt"].text, status=status, created_at=created_at, **fields
        )

    return make


def stored_files() -> set[str]:
    """Every file name in the default storage (to prove a refused request stored nothing)."""
    found: set[str] = set()

    def walk(path: str) -> None:
        try:
            dirs, files = default_storage.listdir(path)
        except FileNotFoundError:
            return
        found.update(f"{path}/{f}".lstrip("/") for f in files)
        for d in dirs:
            walk(f"{path}/{d}".lstrip("/"))

    walk("")
    return found


def generate_form(image, **overrides) -> dict:
    """The admin's generate form, filled in to generate one 480p video from `image`."""
    data = {
        "images": [image.pk],
        "typed_prompts": "The camera drifts over the hills.",
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "duration": "5",
        "seed": "",
        "enable_safety_checker": "on",
        "variations": "1",
        "note": "",
        "_generate": "Generate",
    }
    return {**data, **overrides}


def wait_until(condition, *, timeout: float = 60, interval: float = 0.05, what: str = "the condition"):
    """Poll `condition` until it returns something true (and return that), or fail saying `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def wait_for(generation: Generation, statuses, timeout: float = 90) -> Generation:
    """Poll the database until the generation reaches one of `statuses`."""
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.status in statuses:
            return generation
        time.sleep(0.2)
    raise AssertionError(
        f"generation {generation.code} is {generation.status} after {timeout} s, not {sorted(statuses)} "
        f"({generation.error_code}: {generation.error_message}); see test-output/pipeline-worker.log"
    )

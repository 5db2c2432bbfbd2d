"""Bulk-create realistic generations for benchmarks (bench/gallery_dashboard.py).

    manage.py seed_bench --count 1000000                     # add a million to the configured database
    manage.py seed_bench --count 10000 --database-url postgres://postgres@127.0.0.1:5432/seedance_bench

Each run adds `--count` generations (run it again to grow the set), spread over the last two
years with more of them recently (a team that grows), made the way the app makes them: requests
of one to a dozen generations (several make a batch) by a dozen people, from a few hundred
source images and prompts (real sentences, so full-text search has work to do), every model
input varied (resolution, aspect ratio, duration, camera, seed). Mostly completed, with their
measured video (size from the resolution and length: the storage figures), poster, fal request
id, timestamps and cost; some failed (fal's error codes), cancelled, trashed, rated, picked,
tagged, favourited and collected; a few still in flight (requested in the last half hour).
No files are written: the rows name videos and posters that are not in storage.

Fast: PostgreSQL gets the rows through COPY in chunks of 10,000 (about a minute per million
rows, most of it PostgreSQL maintaining the indexes); other databases through bulk_create.
The per-status counts (GenerationStatusCount) follow through the database triggers; they are
rebuilt at the end anyway, and PostgreSQL's statistics refreshed (ANALYZE).

Source images, prompts, people ("bench-01"…), tags and collections are created the first time
and reused afterwards; the rows are marked as the benchmark's (SHA-256 of "seed-bench …",
usernames "bench-…") but nothing else tells them apart: use a dedicated database.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction
from django.utils import timezone

from generations import dashboard, ledger, pricing, seedance
from generations.models import (
    Batch,
    Collection,
    CollectionItem,
    Favourite,
    Generation,
    GenerationStatusCount,
    Prompt,
    SourceImage,
    Tag,
)
from generations.validators import prompt_fingerprint

S = Generation.Status
ALIAS = "seed_bench"
CHUNK = 10_000
HISTORY_DAYS = 730
IMAGES = 300
PROMPTS = 400
USERS = 12
IN_FLIGHT_SHARE, IN_FLIGHT_MAX = 0.0005, 100  # per run

SUBJECTS = [
    "A red fox",
    "An old fishing boat",
    "A lighthouse on a rocky cliff",
    "A woman in a yellow raincoat",
    "A steaming cup of coffee",
    "A quiet city street at night",
    "A field of sunflowers",
    "A snow-covered mountain village",
    "An astronaut in a white suit",
    "A golden retriever puppy",
    "Ocean waves against black rocks",
    "A vintage convertible",
    "A paper lantern",
    "A hummingbird at a feeder",
    "A desert canyon",
    "A neon-lit diner",
    "A bowl of ramen",
    "A ballet dancer",
    "A waterfall in a rainforest",
    "A cat on a windowsill",
    "A skateboarder in an empty pool",
    "A hot air balloon",
    "A chess board mid-game",
    "A field of lavender",
    "A glass of red wine",
    "A vinyl record player",
    "Koi fish in a pond",
    "A steam train crossing a bridge",
    "A candle flame",
    "Storm clouds over the plains",
    "An old library",
    "A busy street market",
    "A surfer on a glassy wave",
    "Cherry blossoms",
    "A small robot",
    "A jellyfish",
    "A campfire under the stars",
    "A windmill",
    "A jazz saxophonist",
    "A pair of running shoes",
]
ACTIONS = [
    "slowly turns toward the camera",
    "moves gently in the breeze",
    "drifts across the frame",
    "comes to life as the light changes",
    "sways softly",
    "glows warmly in the dark",
    "ripples and sparkles",
    "rises slowly into the sky",
    "spins in place",
    "moves forward with purpose",
    "is revealed as the fog lifts",
    "reflects in a puddle",
]
CAMERAS = [
    "the camera slowly pushes in",
    "a slow dolly out reveals the surroundings",
    "the camera orbits around the subject",
    "a smooth tracking shot follows the motion",
    "static camera, a locked-off tripod shot",
    "handheld camera with a subtle shake",
    "a crane shot rises above the scene",
    "a gentle pan from left to right",
    "a rack focus from the foreground to the background",
    "slow motion",
]
LIGHTS = [
    "golden hour sunlight",
    "soft overcast light",
    "moody blue hour",
    "warm tungsten glow",
    "dramatic rim lighting",
    "neon reflections on wet pavement",
    "morning mist and diffused light",
    "harsh midday sun",
    "candlelit interior",
    "cold moonlight",
]
STYLES = [
    "cinematic, shallow depth of field",
    "35mm film grain",
    "photorealistic, fine detail",
    "dreamy pastel colour grade",
    "documentary style",
    "a clean commercial product shot",
    "anamorphic lens flare",
    "high-contrast black and white",
    "vibrant saturated colours",
    "minimalist composition",
]
TAGS = ["hero", "needs-fix", "client-a", "client-b", "social", "approved", "b-roll", "loop", "draft", "archive"]
COLLECTIONS = ["Spring campaign", "Mood board", "Client delivery", "Best of", "Product launch"]
FAILURES = [
    ("fal_422", "Unprocessable entity: the prompt was rejected by the safety checker."),
    ("fal_422", "Unprocessable entity: the image could not be read."),
    ("submit_timeout", "fal did not answer the submit in time."),
    ("uncertain_submit", "The submit may have reached fal; it was not sent again."),
    ("archive_failed", "The video could not be archived: the download was truncated."),
    ("fal_error", "fal reported an internal error."),
]
# Weighted choices: (value, weight).
ASPECTS = [("16:9", 40), ("9:16", 20), ("auto", 15), ("1:1", 10), ("4:3", 5), ("21:9", 5), ("3:4", 5)]
RESOLUTIONS = [("1080p", 45), ("720p", 35), ("480p", 20)]
DURATIONS = [(5, 45), (3, 10), (8, 15), (10, 15), (12, 5), (2, 5), (4, 5)]
MEGABITS_PER_SECOND = {"480p": 1.2, "720p": 2.5, "1080p": 5.0}
IN_FLIGHT = [S.PENDING, S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS, S.ARCHIVING, S.CANCELLING]


def _weighted(pairs):
    values, weights = zip(*pairs, strict=True)
    return list(values), list(weights)


@dataclass
class Refs:
    """What generations point at: ids of people, images (with their size), prompts (with text)."""

    users: list[int]
    images: list[tuple[int, int, int]]  # (id, width, height)
    prompts: list[tuple[int, str]]
    tags: list[int]
    collections: list[int]


def _sha(label: str) -> str:
    return hashlib.sha256(f"seed-bench {label}".encode()).hexdigest()


def prompt_text(number: int) -> str:
    """The number-th benchmark prompt: a sentence a person would write (the same for a number)."""
    rng = random.Random(f"prompt-{number}")  # noqa: S311 (test data)
    subject, action = rng.choice(SUBJECTS), rng.choice(ACTIONS)
    camera, light, style = rng.choice(CAMERAS), rng.choice(LIGHTS), rng.choice(STYLES)
    return f"{subject} {action}; {camera}, {light}, {style}."


class Command(BaseCommand):
    help = "Bulk-create realistic generations (and what they need) for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="How many generations to add.")
        parser.add_argument(
            "--database-url", default="", help="Seed this database instead of the configured one (migrated)."
        )
        parser.add_argument("--random-seed", type=int, default=None, help="Default: the number of rows already there.")
        parser.add_argument("--quiet", action="store_true", help="No progress lines.")

    def handle(self, *args, count: int, database_url: str, random_seed: int | None, quiet: bool, **options):
        if count < 0:
            raise CommandError("--count must be 0 or more.")
        using = _connect(database_url) if database_url else "default"
        started = time.perf_counter()
        made = seed(count, using=using, random_seed=random_seed, progress=None if quiet else self.stdout.write)
        if not quiet:
            self.stdout.write(f"Added {made} generations in {time.perf_counter() - started:.1f} s.")


def _connect(url: str) -> str:
    import dj_database_url

    if ALIAS not in connections.settings:
        wanted = {"default": connections.settings["default"], ALIAS: dj_database_url.parse(url)}
        connections.settings[ALIAS] = connections.configure_settings(wanted)[ALIAS]
    return ALIAS


def seed(count: int, *, using: str = "default", random_seed: int | None = None, progress=None) -> int:
    """Add `count` generations to the database `using`; returns how many were added."""
    existing = status_total(using) if random_seed is None else 0
    rng = random.Random(random_seed if random_seed is not None else existing)  # noqa: S311 (test data)
    refs = _references(using)
    now = timezone.now()
    in_flight = min(IN_FLIGHT_MAX, max(1, round(count * IN_FLIGHT_SHARE))) if count >= 20 else 0
    # Rows go in in the order they were requested, oldest first, as a table that grew over time
    # has them (so the recent ones are close together on disk, as they would be).
    moments = _Maker(rng, refs, now).request_times(count - in_flight)
    made = 0
    while made < count:
        size = min(CHUNK, count - made)
        # The in-flight ones come with the last chunk (they are the newest).
        chunk_in_flight = in_flight if made + size >= count else 0
        with transaction.atomic(using=using):
            _insert_chunk(
                rng,
                moments[made : made + size - chunk_in_flight],
                refs,
                now=now,
                using=using,
                in_flight=chunk_in_flight,
            )
        made += size
        if progress:
            progress(f"  {made:,} / {count:,} generations")
    dashboard.rebuild_counts(using=using)
    ledger.carry_over(connections[using])  # their money in the spend ledger, as the app would have it
    if connections[using].vendor == "postgresql":
        with connections[using].cursor() as cursor:
            cursor.execute("ANALYZE")
    return made


# --- What generations point at -------------------------------------------------------------


def _references(using: str) -> Refs:
    user_model = get_user_model()
    users = user_model.objects.db_manager(using)
    wanted = [f"bench-{n:02d}" for n in range(1, USERS + 1)]
    have = set(users.filter(username__in=wanted).values_list("username", flat=True))
    users.bulk_create(
        [
            user_model(username=name, email=f"{name}@example.com", password=make_password(None))
            for name in wanted
            if name not in have
        ]
    )
    user_ids = list(users.filter(username__in=wanted).order_by("username").values_list("pk", flat=True))

    images = SourceImage.objects.using(using)
    shas = {_sha(f"image {n}"): n for n in range(IMAGES)}
    have = set(images.filter(sha256__in=shas).values_list("sha256", flat=True))
    rng = random.Random("images")  # noqa: S311
    new = []
    for sha, n in shas.items():
        width, height = rng.choice([(1920, 1080), (1080, 1920), (1600, 1200), (1200, 1200), (2560, 1080), (800, 600)])
        if sha not in have:
            new.append(
                SourceImage(
                    sha256=sha,
                    file=f"source-images/{sha[:2]}/{sha}.jpg",
                    width=width,
                    height=height,
                    format=SourceImage.Format.JPEG,
                    size_bytes=rng.randint(150_000, 4_000_000),
                    original_filename=f"still-{n:04d}.jpg",
                    title=f"Still {n:04d}",
                    created_at=timezone.now() - timedelta(days=HISTORY_DAYS + 1),
                )
            )
    images.bulk_create(new, batch_size=500)
    image_rows = list(images.filter(sha256__in=shas).values_list("pk", "width", "height"))

    prompts = Prompt.objects.using(using)
    texts: dict[str, str] = {}
    number = 0
    while len(texts) < PROMPTS:
        text = prompt_text(number)
        texts.setdefault(prompt_fingerprint(text), text)
        number += 1
    have = set(prompts.filter(text_hash__in=texts).values_list("text_hash", flat=True))
    prompts.bulk_create(
        [
            Prompt(text=text, text_hash=digest, created_at=timezone.now() - timedelta(days=HISTORY_DAYS + 1))
            for digest, text in texts.items()
            if digest not in have
        ],
        batch_size=500,
    )
    prompt_rows = list(prompts.filter(text_hash__in=texts).values_list("pk", "text"))

    tags = Tag.objects.using(using)
    have = {name.lower() for name in tags.values_list("name", flat=True)}
    tags.bulk_create([Tag(name=name) for name in TAGS if name not in have])
    tag_ids = list(tags.filter(name__in=TAGS).values_list("pk", flat=True))

    collections = Collection.objects.using(using)
    have = set(collections.filter(name__in=COLLECTIONS).values_list("name", flat=True))
    collections.bulk_create(
        [Collection(name=name, owner_id=user_ids[n % len(user_ids)]) for n, name in enumerate(COLLECTIONS)]
        if not have
        else []
    )
    collection_ids = list(collections.filter(name__in=COLLECTIONS).values_list("pk", flat=True))
    return Refs(user_ids, image_rows, prompt_rows, tag_ids, collection_ids)


# --- Generations -----------------------------------------------------------------------------


class _Maker:
    """Draws generation rows (dicts of column values) the way the app would have made them."""

    def __init__(self, rng: random.Random, refs: Refs, now: datetime):
        self.rng, self.refs, self.now = rng, refs, now
        self.aspects, self.aspect_weights = _weighted(ASPECTS)
        self.resolutions, self.resolution_weights = _weighted(RESOLUTIONS)
        self.durations, self.duration_weights = _weighted(DURATIONS)
        self.prices: dict[tuple, Decimal] = {}
        self.sizes: dict[tuple, tuple[int, int]] = {}

    def _price_and_size(self, resolution: str, aspect: str, duration: int, image: tuple[int, int, int]):
        key = (resolution, aspect, duration, image[1], image[2])
        if key not in self.prices:
            size = seedance.output_size(resolution, aspect, (image[1], image[2]))
            self.sizes[key] = size
            self.prices[key] = pricing.price_of_tokens(pricing.video_tokens(*size, duration))
        return self.prices[key], self.sizes[key]

    def request_times(self, count: int) -> list[datetime]:
        """`count` moments over the last HISTORY_DAYS, oldest first, more of them recently:
        the density rises linearly, 3× from the oldest day to today."""
        positions = sorted((math.sqrt(1 + 8 * self.rng.random()) - 1) / 2 for _ in range(count))  # CDF (t + t²)/2
        start = self.now - timedelta(days=HISTORY_DAYS, seconds=60)
        return [start + timedelta(days=HISTORY_DAYS * position) for position in positions]

    def request(self, size: int, *, created: datetime | None = None) -> list[dict]:
        """One person's request: `size` generations sharing the image, settings and moment
        (`created`; none: a request still in flight, made in the last half hour)."""
        rng = self.rng
        in_flight = created is None
        if in_flight:
            created = self.now - timedelta(seconds=rng.uniform(5, 1800))
        user = rng.choice(self.refs.users)
        image = rng.choice(self.refs.images)
        resolution = rng.choices(self.resolutions, self.resolution_weights)[0]
        aspect = rng.choices(self.aspects, self.aspect_weights)[0]
        duration = rng.choices(self.durations, self.duration_weights)[0]
        camera_fixed = rng.random() < 0.2
        safety = rng.random() < 0.95
        base_seed = rng.randrange(seedance.MAX_SEED - 100) if rng.random() < 0.3 else None
        prompts = [rng.choice(self.refs.prompts) for _ in range(max(1, size // rng.choice([1, 2, 4])))]
        price, (width, height) = self._price_and_size(resolution, aspect, duration, image)
        rows = []
        for n in range(size):
            prompt_id, text = prompts[n % len(prompts)]
            code = uuid.UUID(int=rng.getrandbits(128), version=4)
            row = {
                "code": code,
                "source_image_id": image[0],
                "prompt_id": prompt_id,
                "prompt_text": text,
                "aspect_ratio": aspect,
                "resolution": resolution,
                "duration": duration,
                "camera_fixed": camera_fixed,
                "seed": None if base_seed is None else base_seed + n,
                "enable_safety_checker": safety,
                "requested_by_id": user,
                "estimated_cost": price,
                "cost": price,
                "created_at": created + timedelta(milliseconds=n),
            }
            status = rng.choice(IN_FLIGHT) if in_flight else self._ending()
            self._lifecycle(row, status, width=width, height=height, price=price)
            rows.append(row)
        return rows

    def _ending(self) -> str:
        draw = self.rng.random()
        return S.COMPLETED if draw < 0.90 else S.FAILED if draw < 0.975 else S.CANCELLED

    def _lifecycle(self, row: dict, status: str, *, width: int, height: int, price: Decimal) -> None:
        rng, created = self.rng, row["created_at"]
        row["status"] = status
        row["updated_at"] = created
        if status == S.PENDING:
            return
        submitted = created + timedelta(seconds=rng.uniform(0.3, 3))
        started = submitted + timedelta(seconds=rng.uniform(2, 90))
        finished = started + timedelta(seconds=rng.uniform(25, 150))
        row.update(
            fal_request_id=f"bench-{row['code']}",
            attempts=1,
            submitted_at=submitted,
            updated_at=submitted,
            fal_logs=[
                {"timestamp": started.isoformat(), "level": "INFO", "message": "Starting generation"},
                {"timestamp": finished.isoformat(), "level": "INFO", "message": "Generation finished"},
            ],
        )
        if status in (S.SUBMITTED, S.IN_QUEUE):
            row["queue_position"] = rng.randint(0, 40) if status == S.IN_QUEUE else None
            return
        if status == S.CANCELLED or (status == S.FAILED and rng.random() < 0.3):
            row.update(finished_at=submitted + timedelta(seconds=rng.uniform(1, 60)), cost=Decimal(0))
            row["updated_at"] = row["finished_at"]
            if status == S.FAILED:
                code, message = rng.choice(FAILURES[:4])
                row.update(error_code=code, error_message=message)
            else:
                row["error_code"] = "cancelled"
            self._curate(row)
            return
        row.update(started_at=started, updated_at=started)
        if status in (S.IN_PROGRESS, S.CANCELLING):
            return
        row.update(finished_at=finished, updated_at=finished, seed_used=row["seed"] or rng.randrange(seedance.MAX_SEED))
        if status == S.FAILED:
            code, message = rng.choice(FAILURES)
            row.update(error_code=code, error_message=message, cost=Decimal(0))
            self._curate(row)
            return
        if status == S.ARCHIVING:
            row["fal_video_url"] = f"https://v3.fal.media/files/bench/{row['code']}.mp4"
            return
        seconds = row["duration"] + rng.uniform(-0.05, 0.05)
        archived = finished + timedelta(seconds=rng.uniform(2, 12))
        month = f"generations/{row['created_at']:%Y/%m}/{row['code']}"
        row.update(
            fal_video_url=f"https://v3.fal.media/files/bench/{row['code']}.mp4",
            video=f"{month}.mp4",
            poster=f"{month}.jpg",
            video_duration=round(seconds, 3),
            video_width=width,
            video_height=height,
            video_fps=24.0,
            video_codec="h264",
            video_bytes=int(MEGABITS_PER_SECOND[row["resolution"]] * 125_000 * seconds * rng.uniform(0.7, 1.3)),
            video_sha256=hashlib.sha256(row["code"].bytes).hexdigest(),
            archived_at=archived,
            updated_at=archived,
            cost=price,
        )
        self._curate(row)

    def _curate(self, row: dict) -> None:
        rng = self.rng
        if row["status"] == S.COMPLETED:
            if rng.random() < 0.08:
                row["rating"] = rng.choices([1, 2, 3, 4, 5], [5, 10, 30, 35, 20])[0]
            if rng.random() < 0.005:
                row["is_pick"] = True
        if rng.random() < 0.003:
            row["trashed_at"] = row["updated_at"] + timedelta(days=rng.uniform(0, 20))
            row["trashed_by_id"] = row["requested_by_id"]


def _insert_chunk(
    rng: random.Random, moments: list[datetime], refs: Refs, *, now: datetime, using: str, in_flight: int
) -> None:
    """Requests at `moments` (one generation each; a request of n takes n of them, at its first),
    then `in_flight` single requests still running."""
    maker = _Maker(rng, refs, now)
    rows: list[dict] = []
    batches: list[tuple[int, int, datetime]] = []  # (first row, size, created) of multi-generation requests
    while len(rows) < len(moments):
        wanted = 1 if rng.random() < 0.6 else rng.randint(2, 12)
        wanted = min(wanted, len(moments) - len(rows))
        request = maker.request(wanted, created=moments[len(rows)])
        if wanted > 1:
            batches.append((len(rows), wanted, request[0]["created_at"]))
        rows.extend(request)
    for _ in range(in_flight):
        rows.extend(maker.request(1))

    made = Batch.objects.using(using).bulk_create(
        [
            Batch(owner_id=rows[first]["requested_by_id"], note=f"Bench request of {n}", created_at=created)
            for first, n, created in batches
        ],
        batch_size=2000,
    )
    for batch, (first, n, _created) in zip(made, batches, strict=True):
        for row in rows[first : first + n]:
            row["batch_id"] = batch.pk

    ids = _write_generations(rows, using=using)
    _link(rng, rows, ids, refs, using=using)


def _write_generations(rows: list[dict], *, using: str) -> list[int]:
    """Insert the rows; returns their ids in order."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        objects = Generation.objects.using(using).bulk_create([Generation(**row) for row in rows], batch_size=500)
        return [g.pk for g in objects]
    table = Generation._meta.db_table
    fields = Generation._meta.concrete_fields
    defaults = {f.attname: f.get_default() for f in fields if f.attname != "id"}
    json_columns = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
    columns = ["id", *defaults]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(rows)]
        )
        ids = [row[0] for row in cursor.fetchall()]
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for pk, row in zip(ids, rows, strict=True):
                values = [pk]
                for column, default in defaults.items():
                    value = row.get(column, default)
                    values.append(json.dumps(value) if column in json_columns else value)
                copy.write_row(values)
    return ids


def _link(rng: random.Random, rows: list[dict], ids: list[int], refs: Refs, *, using: str) -> None:
    """Tags, favourites and collection items on some of the ended generations."""
    through = Generation.tags.through
    tags, favourites, items = [], [], []
    for pk, row in zip(ids, rows, strict=True):
        if row["status"] not in Generation.ENDS:
            continue
        if rng.random() < 0.03:
            for tag in rng.sample(refs.tags, rng.randint(1, 2)):
                tags.append(through(generation_id=pk, tag_id=tag))
        if rng.random() < 0.02:
            favourites.append(Favourite(user_id=rng.choice(refs.users), generation_id=pk))
        if rng.random() < 0.002:
            items.append(CollectionItem(collection_id=rng.choice(refs.collections), generation_id=pk))
    through.objects.using(using).bulk_create(tags, batch_size=2000, ignore_conflicts=True)
    Favourite.objects.using(using).bulk_create(favourites, batch_size=2000, ignore_conflicts=True)
    CollectionItem.objects.using(using).bulk_create(items, batch_size=2000, ignore_conflicts=True)


def status_total(using: str = "default") -> int:
    """How many generations there are, from the maintained counts (no table scan)."""
    return sum(GenerationStatusCount.objects.using(using).values_list("count", flat=True))

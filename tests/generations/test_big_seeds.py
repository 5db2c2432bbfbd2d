"""Seeds past 2^31 − 1 (issue 11, item 8): Seedance takes and returns 0 … 2^32 − 1.

Stored, shown, reused and exported exactly, on whichever database the run uses: run this
file on SQLite and on PostgreSQL (DATABASE_URL=postgres://…), where a 32-bit column or a
signed cast would break first.
"""

from __future__ import annotations

import csv
import io
import json
import re
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from generations import actions, seedance, services
from generations.models import Generation
from tests.conftest import T0, generate_form, generation_rows

pytestmark = pytest.mark.django_db
S = Generation.Status

TOP = 2**32 - 1  # 4294967295, Seedance's largest seed
HIGH = 3_000_000_000  # past a signed 32-bit integer, below TOP
SEEDS = [pytest.param(TOP, HIGH, id="top-used-high"), pytest.param(HIGH, TOP, id="high-used-top")]


@pytest.fixture(autouse=True)
def no_workers():
    with mock.patch("generations.tasks.submit_generation.delay", autospec=True) as submit:
        yield submit


@pytest.fixture
def make(source_image, prompt):
    return generation_rows(source_image, prompt, default_status=S.COMPLETED)


def test_max_seed_is_seedance_s():
    assert seedance.MAX_SEED == TOP


@pytest.mark.parametrize(("seed", "used"), SEEDS)
def test_big_seeds_are_stored_exactly(source_image, prompt, seed, used):
    generation = services.generation_create(
        source_image=source_image, prompt=prompt, params=services.GenerationParams.from_raw(seed=str(seed))
    )
    Generation.objects.filter(pk=generation.pk).update(seed_used=used)
    generation.refresh_from_db()
    assert (generation.seed, generation.seed_used) == (seed, used)
    assert Generation.objects.filter(seed=seed, seed_used=used).count() == 1  # compared in SQL, too
    generation.full_clean()  # the model's validators take them
    assert generation.fal_arguments(image_url="https://x/y.png")["seed"] == seed


def test_the_database_refuses_a_seed_past_seedance_s(make):
    generation = make(T0, seed=TOP)
    with pytest.raises(IntegrityError), transaction.atomic():
        Generation.objects.filter(pk=generation.pk).update(seed=TOP + 1)


@pytest.mark.parametrize(("seed", "used"), SEEDS)
def test_the_gallery_shows_them_and_copies_the_seed_used(viewer_client, make, seed, used):
    generation = make(T0, seed=seed, seed_used=used)
    html = viewer_client.get(reverse("generation-detail", args=[generation.code])).text
    assert f"<dt>Seed asked</dt><dd>{seed}</dd>" in html
    assert f"<dt>Seed used</dt><dd>{used}</dd>" in html
    copied = re.search(r'<script id="generation-inputs" type="application/json">(.*?)</script>', html, re.S)
    assert json.loads(copied.group(1))["seed"] == used  # "Copy the settings" gives the seed fal used


def test_compare_shows_them(viewer_client, make):
    a, b = make(T0, seed=TOP, seed_used=TOP), make(T0, seed=HIGH, seed_used=HIGH)
    html = viewer_client.get(f"/compare/?ids={a.code},{b.code}").text
    assert str(TOP) in html and str(HIGH) in html


def test_the_admin_shows_them(client, superuser, make):
    client.force_login(superuser)
    generation = make(T0, seed=HIGH, seed_used=TOP)
    change = client.get(reverse("admin:generations_generation_change", args=[generation.pk])).text
    assert f"{HIGH} — used <strong>{TOP}</strong>" in change
    listing = client.get(reverse("admin:generations_generation_changelist")).text
    assert str(TOP) in listing and "4,294,967,295" not in listing


@pytest.mark.parametrize(("seed", "used"), SEEDS)
def test_retry_reuses_the_seed_asked(make, alice, seed, used):
    failed = make(T0, S.FAILED, seed=seed, seed_used=used)
    new = actions.retry(failed, user=alice)
    new.refresh_from_db()
    assert new.seed == seed and new.fal_arguments(image_url="https://x/y.png")["seed"] == seed


def test_remix_with_a_big_seed_and_the_duplicate_check_find_it(make, alice, source_image):
    old = make(T0, seed=HIGH, seed_used=HIGH)
    remixed = actions.remix(old, user=alice, seed=TOP)
    assert Generation.objects.get(pk=remixed.pk).seed == TOP
    # The same inputs with the same big seed as a completed video: found, not paid again.
    the_plan = actions.plan(
        images=[source_image], prompt_texts=[old.prompt_text], params=services.GenerationParams.of(old)
    )
    assert [item.identical for item in the_plan.items] == [old]


def test_the_admin_generate_form_takes_the_top_seeds(client, superuser, source_image):
    client.force_login(superuser)
    url = reverse("admin:generations_generation_generate")
    response = client.post(url, generate_form(source_image, seed=str(TOP - 1), variations="2"))
    assert response.status_code == 302, response.context["form"].errors
    assert sorted(Generation.objects.values_list("seed", flat=True)) == [TOP - 1, TOP]

    response = client.post(url, generate_form(source_image, seed=str(TOP), variations="2"))
    assert response.status_code == 200
    assert f"the seeds run {TOP}…{TOP + 1}, past the largest seed ({TOP})" in response.context["form"].errors["seed"][0]


def test_the_admin_remix_page_prefills_a_new_random_seed(client, superuser, make):
    client.force_login(superuser)
    old = make(T0, seed=TOP, seed_used=TOP)
    form = client.get(reverse("admin:generations_generation_generate") + f"?remix={old.code}").context["form"]
    assert form["seed"].value() == ""  # "remix": a new seed, the rest as before


def test_generate_command_takes_the_top_seed(tmp_path):
    from tests.conftest import make_image_bytes

    path = tmp_path / "still.png"
    path.write_bytes(make_image_bytes())
    out = io.StringIO()
    call_command(
        "generate", "--image", str(path), "--prompt", "Waves roll in.", "--seed", str(TOP), "--json", stdout=out
    )
    answer = json.loads(out.getvalue())
    assert answer["requested_seed"] == TOP
    assert Generation.objects.get(code=answer["id"]).seed == TOP


def test_the_exports_carry_them_exactly(viewer_client, make):
    a = make(T0, seed=TOP, seed_used=HIGH)
    b = make(T0, seed=None, seed_used=TOP)
    data = json.loads(b"".join(viewer_client.get("/export.json").streaming_content))
    entries = {e["id"]: e for e in data["generations"]}
    assert (entries[str(a.code)]["inputs"]["seed"], entries[str(a.code)]["seed_used"]) == (TOP, HIGH)
    assert (entries[str(b.code)]["inputs"]["seed"], entries[str(b.code)]["seed_used"]) == (None, TOP)

    body = b"".join(viewer_client.get("/export.csv").streaming_content).decode()
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(body))}
    assert (rows[str(a.code)]["seed_requested"], rows[str(a.code)]["seed_used"]) == (str(TOP), str(HIGH))
    assert (rows[str(b.code)]["seed_requested"], rows[str(b.code)]["seed_used"]) == ("", str(TOP))

"""The generate page: validation, the priced preview, batches, budget, duplicates, remix."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse

from generations import pricing
from generations.models import AuditEvent, Batch, Budget, Generation, Prompt

from .conftest import change_url, changelist_url, messages_of, run_action

pytestmark = pytest.mark.django_db
S = Generation.Status
URL = reverse("admin:generations_generation_generate")


def form_data(chosen, **overrides):
    data = {
        "images": [i.pk for i in chosen],
        "library_prompts": [],
        "typed_prompts": "The camera drifts over the hills.",
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "duration": "5",
        "seed": "",
        "enable_safety_checker": "on",
        "variations": "1",
        "note": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def nothing_created():
    return Generation.objects.count() == 0 and Batch.objects.count() == 0 and AuditEvent.objects.count() == 0


def test_the_page_renders_with_the_chosen_images_defaults_and_budget(root_client, images):
    response = root_client.get(URL, {"images": [images[0].pk]})
    assert response.status_code == 200
    html = response.text
    assert "Generate videos" in html
    assert 'class="breadcrumbs"' in html
    assert "hills.png" in html  # the chosen image, shown as a thumbnail and preselected
    form = response.context["form"]
    assert form.initial["images"] == [str(images[0].pk)]
    # The model's defaults and choices.
    assert form.fields["duration"].initial == 5
    assert form.fields["resolution"].initial == "1080p"
    assert form.fields["aspect_ratio"].initial == "auto"
    assert form.fields["enable_safety_checker"].initial is True
    assert '<option value="12">12 s</option>' in html
    assert '<option value="21:9">' in html
    assert "Team, this month" in html


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"duration": "13"}, "duration", "The duration must be 2 to 12 seconds, not 13."),
        ({"duration": "five"}, "duration", "The duration must be a whole number of seconds, not 'five'."),
        ({"typed_prompts": "  \n "}, "typed_prompts", "Give at least one prompt"),
        ({"typed_prompts": "ok\nbad \x07 bell"}, "typed_prompts", "Line 2: The prompt contains a control character"),
        ({"seed": "abc"}, "seed", "The seed must be a whole number, not 'abc'."),
        ({"seed": str(2**32)}, "seed", "The seed must be between 0 and 4294967295 (or -1 for random)"),
        ({"seed": "4294967295", "variations": "2"}, "seed", "past the largest seed"),
        ({"variations": "21"}, "variations", "Variations per prompt can be at most 20."),
        ({"variations": "0"}, "variations", "Variations per prompt must be at least 1."),
        ({"aspect_ratio": "5:4"}, "aspect_ratio", "'5:4' is not an aspect ratio"),
        ({"images": []}, "images", "Choose at least one source image."),
    ],
)
def test_bad_input_gets_a_specific_error_and_creates_nothing(root_client, images, overrides, field, message):
    response = root_client.post(URL, form_data(images, **overrides, _generate="Generate"))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(message in e for e in errors[field]), errors
    assert message.replace("'", "&#x27;") in response.text
    assert nothing_created()


def test_ids_that_are_not_ids_are_refused_not_crashed_on(root_client, images):
    # A link with a value that cannot be an id: 400 saying which (tests/security/test_hostile_values.py).
    refused = root_client.get(URL, {"images": [images[0].pk], "prompts": ["1'"]})
    assert refused.status_code == 400 and "is not a prompt id: not a whole number" in refused.text
    response = root_client.post(URL, form_data(images, images=["x"], library_prompts=["9999"], _preview="Preview"))
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"images", "library_prompts"}
    assert nothing_created()


def test_too_many_generations_is_refused_as_a_whole(root_client, images):
    prompts = "\n".join(f"Prompt number {n}" for n in range(11))
    response = root_client.post(URL, form_data(images, typed_prompts=prompts, variations="10", _generate="Generate"))
    assert response.context["form"].non_field_errors() == [
        "That is 220 generations; one request may create at most 200. Split it up."
    ]
    assert nothing_created()


def test_preview_counts_and_prices_every_generation(root_client, images):
    """2 images × 2 prompts × 3 variations at 480p 16:9 5 s = 12 generations."""
    data = form_data(images, typed_prompts="Waves roll in.\nClouds race by.", variations="3", _preview="Preview")
    response = root_client.post(URL, data)
    assert response.status_code == 200
    each = pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=5)
    assert each == Decimal("0.0486")  # 864 × 480 × 24 × 5 / 1024 = 48,600 tokens at $1 per million
    preview = response.context["preview"]
    assert preview.count == 12
    assert preview.total_cost == 12 * each
    assert [(line.count, line.unit_cost, line.subtotal) for line in preview.lines] == [(6, each, 6 * each)] * 2
    assert preview.seeds == "random for each video"
    assert f"12 generations for ${12 * each:.4f}" in response.text
    assert 'id="preview-total">$0.5832<' in response.text
    assert "Generate 12 videos ($0.58)" in response.text
    assert nothing_created()


def test_preview_of_auto_aspect_prices_each_image_by_its_own_shape(root_client, images):
    response = root_client.post(URL, form_data(images, aspect_ratio="auto", _preview="Preview"))
    costs = {line.image.pk: line.unit_cost for line in response.context["preview"].lines}
    assert costs == {
        images[0].pk: pricing.estimate(resolution="480p", aspect_ratio="4:3", duration=5),  # 400×300
        images[1].pk: pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=5),  # 640×360
    }


def test_generate_creates_one_batch_and_queues_everything(
    root_client, superuser, images, no_workers, django_capture_on_commit_callbacks
):
    data = form_data(
        images, typed_prompts="Waves roll in.\nClouds race by.", variations="3", seed="42", note="For the launch"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = root_client.post(URL, {**data, "_generate": "Generate"})
    batch = Batch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == changelist_url() + f"?batch={batch.code}"
    generations = Generation.objects.all()
    assert generations.count() == 12
    assert {g.batch_id for g in generations} == {batch.pk}
    assert (batch.owner, batch.note) == (superuser, "For the launch")
    assert sorted({g.seed for g in generations}) == [42, 43, 44]
    assert {(g.status, g.resolution, g.aspect_ratio, g.duration, g.requested_by_id) for g in generations} == {
        (S.PENDING, "480p", "16:9", 5, superuser.pk)
    }
    assert sum(g.cost for g in generations) == Decimal("0.5832")
    assert no_workers.submit.call_count == 12
    [event] = AuditEvent.objects.all()
    assert (event.action, event.batch, event.cost) == ("generate", batch, Decimal("0.5832"))
    assert LogEntry.objects.filter(action_flag=ADDITION).count() == 13  # 12 generations and the batch
    followed = root_client.get(response["Location"])
    assert f"Queued 12 generations in batch {str(batch.code)[:8]} for an estimated $0.58" in messages_of(followed)[0]
    assert "12 generations" in followed.text


def test_one_generation_needs_no_batch_and_opens_its_page(root_client, images):
    response = root_client.post(URL, form_data(images[:1], _generate="Generate"))
    generation = Generation.objects.get()
    assert response["Location"] == change_url(generation)
    assert generation.batch is None
    assert Batch.objects.count() == 0
    followed = root_client.get(response["Location"])
    assert messages_of(followed) == [f"Queued generation {str(generation.code)[:8]} for an estimated $0.05 ($0.0486)."]


@pytest.mark.parametrize("seed", ["", "-1"])
def test_an_empty_seed_or_minus_one_is_random(root_client, images, seed):
    root_client.post(URL, form_data(images[:1], seed=seed, variations="2", _generate="Generate"))
    assert list(Generation.objects.values_list("seed", flat=True)) == [None, None]


def test_library_and_typed_prompts_combine_without_repeats(root_client, images, make_generation):
    library = make_generation(prompt_text="Leaves fall slowly.").prompt
    Generation.objects.all().delete()
    data = form_data(images[:1], library_prompts=[library.pk], typed_prompts="Leaves   fall slowly.\nA bird lands.")
    response = root_client.post(URL, {**data, "_preview": "Preview"})
    assert response.context["preview"].prompts == ["Leaves fall slowly.", "A bird lands."]
    root_client.post(URL, {**data, "_generate": "Generate"})
    assert sorted(Generation.objects.values_list("prompt_text", flat=True)) == ["A bird lands.", "Leaves fall slowly."]
    assert Prompt.objects.filter(text="A bird lands.").exists()


def test_the_budget_refuses_and_says_what_is_left(root_client, images, make_generation):
    make_generation()  # $0.0486 reserved today by alice (not the superuser)
    Budget.objects.update_or_create(pk=1, defaults={"monthly_team_cap": Decimal("0.50")})
    before = Generation.objects.count()
    data = form_data(images, typed_prompts="Waves roll in.\nClouds race by.", variations="3")  # 12 × $0.0486
    response = root_client.post(URL, {**data, "_generate": "Generate"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Nothing was generated: This would cost $0.5832, but only $0.4514 of the team's monthly budget ($0.50) is left."
    ]
    assert Generation.objects.count() == before
    assert Batch.objects.count() == 0


def test_the_daily_cap_is_per_person(root_client, images):
    Budget.objects.update_or_create(pk=1, defaults={"daily_user_cap": Decimal("0.05")})  # two cost $0.096
    response = root_client.post(URL, form_data(images, _preview="Preview"))
    assert "This request costs more than is left" in response.text
    response = root_client.post(URL, form_data(images, _generate="Generate"))
    assert "only $0.05 of your daily budget ($0.05) is left today" in response.text
    assert Generation.objects.count() == 0


def test_duplicates_are_shown_refused_and_can_be_generated_anyway(root_client, images, make_generation):
    existing = make_generation(S.COMPLETED, prompt_text="The camera drifts over the hills.", seed=7)
    data = form_data(images[:1], seed="7", variations="2")
    preview = root_client.post(URL, {**data, "_preview": "Preview"})
    [(item, identical)] = preview.context["preview"].duplicates
    assert (identical, item.params.seed) == (existing, 7)
    assert change_url(existing) in preview.text
    assert existing.poster.url in preview.text

    refused = root_client.post(URL, {**data, "_generate": "Generate"})
    assert "1 of these generation(s) would repeat a video you already have" in refused.text
    assert Generation.objects.count() == 1

    anyway = root_client.post(URL, {**data, "allow_duplicates": "on", "_generate": "Generate"})
    assert anyway.status_code == 302
    assert sorted(Generation.objects.exclude(pk=existing.pk).values_list("seed", flat=True)) == [7, 8]


def test_a_request_changed_after_its_preview_is_priced_again_first(root_client, images):
    data = form_data(images)
    signature = root_client.post(URL, {**data, "_preview": "Preview"}).context["preview"].signature
    response = root_client.post(URL, {**data, "duration": "10", "previewed": signature, "_generate": "Generate"})
    assert "The request changed since the preview" in response.text
    assert Generation.objects.count() == 0
    response = root_client.post(URL, {**data, "previewed": signature, "_generate": "Generate"})
    assert response.status_code == 302
    assert Generation.objects.count() == 2


def test_remix_with_an_edited_prompt_prefills_and_links_the_new_generation(root_client, make_generation):
    original = make_generation(S.COMPLETED, seed=5)
    page = root_client.get(URL, {"remix": original.code})
    form = page.context["form"]
    assert form.initial["typed_prompts"] == original.prompt_text
    assert form.initial["seed"] == ""
    assert form.initial["images"] == [original.source_image_id]
    assert page.context["title"] == "Remix with an edited prompt"

    data = form_data(
        [original.source_image], typed_prompts="A slow zoom over the hills at dusk.", remix_of=str(original.code)
    )
    response = root_client.post(URL, {**data, "_generate": "Generate"})
    new = Generation.objects.exclude(pk=original.pk).get()
    assert response["Location"] == change_url(new)
    assert (new.retry_of, new.prompt_text, new.seed) == (original, "A slow zoom over the hills at dusk.", None)
    assert AuditEvent.objects.get(generation=new).action == "remix"


def test_the_image_and_prompt_actions_open_the_page_with_their_selection(root_client, images, make_generation):
    response = run_action(root_client, "generate_videos", images, model="sourceimage")
    assert response.redirect_chain[-1][0] == URL + f"?images={images[0].pk}&images={images[1].pk}" or (
        response.redirect_chain[-1][0] == URL + f"?images={images[1].pk}&images={images[0].pk}"
    )
    assert {i.pk for i in response.context["chosen_images"]} == {i.pk for i in images}

    prompt = make_generation().prompt
    response = run_action(root_client, "generate_videos", [prompt], model="prompt")
    assert response.redirect_chain[-1][0] == URL + f"?prompts={prompt.pk}"
    assert response.context["form"].initial["library_prompts"] == [str(prompt.pk)]


def test_the_image_page_links_to_generate(root_client, images):
    response = root_client.get(change_url(images[0]))
    assert f'href="{URL}?images={images[0].pk}"' in response.text


def test_a_generator_may_generate(generator_client, generator, images):
    assert generator_client.get(URL).status_code == 200
    response = generator_client.post(URL, form_data(images[:1], _generate="Generate"))
    assert response.status_code == 302
    assert Generation.objects.get().requested_by == generator


def test_a_viewer_may_not(viewer_client, images):
    assert viewer_client.get(URL, {"images": [images[0].pk]}).status_code == 403
    assert viewer_client.post(URL, form_data(images, _generate="Generate")).status_code == 403
    assert nothing_created()
    # Neither the action nor the buttons are offered.
    page = viewer_client.get(changelist_url("sourceimage"))
    assert "generate_videos" not in page.text
    assert URL not in viewer_client.get(change_url(images[0])).text
    assert URL not in viewer_client.get(changelist_url()).text
    # And posting the action anyway does nothing.
    response = run_action(viewer_client, "generate_videos", images, model="sourceimage")
    assert (response.status_code, response.redirect_chain) == (200, [])


def test_remixing_through_the_page_needs_the_retry_permission_too(client, django_user_model, images, make_generation):
    """Someone who may generate but not retry cannot remix."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("gen-only", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="generate"))
    client.force_login(user)
    original = make_generation(S.FAILED)
    assert client.get(URL, {"remix": original.code}).status_code == 403
    data = form_data([original.source_image], remix_of=str(original.code), _generate="Generate")
    assert client.post(URL, data).status_code == 403
    assert Generation.objects.count() == 1


def test_the_page_needs_a_staff_login(client, alice, images):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    client.force_login(alice)  # not staff
    assert "/admin/login/" in client.get(URL)["Location"]

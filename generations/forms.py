"""Forms for the admin's generate page.

The form checks what it can say field by field (a bad duration, a bad seed, a prompt
with a control character on line 3), then asks `actions.plan` for the whole request,
so the page shows exactly what `actions.request` would create and what it would cost.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import ValidationError

from . import actions, seedance
from .models import Generation, Prompt, SourceImage
from .services import GenerationParams
from .validators import normalize_seed, prompt_fingerprint, validate_prompt_text


class _Picker(AutocompleteSelectMultiple):
    """The admin's searchable picker, ignoring values that are not ids (a hand-edited URL)."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, [v for v in value if str(v).isdigit()], attr)


class GenerateForm(forms.Form):
    images = forms.ModelMultipleChoiceField(
        queryset=SourceImage.objects.all(),
        label="Source images",
        error_messages={"required": "Choose at least one source image."},
    )
    library_prompts = forms.ModelMultipleChoiceField(
        queryset=Prompt.objects.all(),
        required=False,
        label="Prompts from the library",
        help_text="Search the prompt library by text or title.",
    )
    typed_prompts = forms.CharField(
        required=False,
        label="New prompts",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "class": "vLargeTextField"}),
        help_text="One prompt per line; they are added to the library.",
    )
    aspect_ratio = forms.CharField(
        initial=seedance.DEFAULT_ASPECT_RATIO, widget=forms.Select(choices=seedance.AspectRatio.choices)
    )
    resolution = forms.CharField(
        initial=seedance.DEFAULT_RESOLUTION, widget=forms.Select(choices=seedance.Resolution.choices)
    )
    # Char fields with select widgets: GenerationParams.from_raw gives the specific
    # message ("must be 2 to 12 seconds, not 13") instead of "Select a valid choice".
    duration = forms.CharField(
        initial=seedance.DEFAULT_DURATION, widget=forms.Select(choices=seedance.DURATION_CHOICES)
    )
    camera_fixed = forms.BooleanField(required=False, initial=seedance.DEFAULT_CAMERA_FIXED, label="Camera fixed")
    seed = forms.CharField(
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"size": 14, "inputmode": "numeric"}),
        help_text=f"Empty or -1: a random seed for each video. 0 to {seedance.MAX_SEED}: "
        "variations use this seed, seed+1, seed+2, …",
    )
    enable_safety_checker = forms.BooleanField(
        required=False, initial=seedance.DEFAULT_ENABLE_SAFETY_CHECKER, label="Safety checker"
    )
    variations = forms.IntegerField(
        initial=1,
        min_value=1,
        max_value=actions.MAX_VARIATIONS,
        label="Variations per prompt",
        widget=forms.NumberInput(attrs={"style": "width:5em"}),
        error_messages={
            "min_value": "Variations per prompt must be at least 1.",
            "max_value": f"Variations per prompt can be at most {actions.MAX_VARIATIONS}.",
            "invalid": "Variations per prompt must be a whole number.",
            "required": "Say how many variations per prompt (1 for one video each).",
        },
    )
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Kept with the batch, e.g. what the videos are for.",
    )
    allow_duplicates = forms.BooleanField(
        required=False,
        label="Generate anyway",
        help_text="Pay again for videos identical to ones you already have (same image, prompt, settings and seed).",
    )
    # Set when the page was opened as "remix with edited prompt" from a generation.
    remix_of = forms.ModelChoiceField(
        queryset=Generation.objects.all(), required=False, to_field_name="code", widget=forms.HiddenInput
    )

    def __init__(self, *args, admin_site=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan: actions.Plan | None = None
        if admin_site is not None:
            # The admin's searchable pickers (select2 over the admins' search_fields):
            # they load matches on demand, so a large library is never rendered whole.
            for name, relation in (("images", "source_image"), ("library_prompts", "prompt")):
                widget = _Picker(Generation._meta.get_field(relation), admin_site)
                widget.choices = self.fields[name].widget.choices
                widget.attrs["style"] = "width:40em"
                self.fields[name].widget = widget

    def clean_typed_prompts(self) -> list[str]:
        texts = []
        errors = []
        for number, line in enumerate(self.cleaned_data["typed_prompts"].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                validate_prompt_text(line.strip())
            except ValidationError as exc:
                errors.extend(f"Line {number}: {message}" for message in exc.messages)
            texts.append(line.strip())
        if errors:
            raise ValidationError(errors)
        return texts

    def clean_duration(self) -> int:
        value = self.cleaned_data["duration"]
        try:
            duration = int(value)
        except (TypeError, ValueError):
            raise ValidationError(f"The duration must be a whole number of seconds, not {value!r}.") from None
        if not seedance.MIN_DURATION <= duration <= seedance.MAX_DURATION:
            raise ValidationError(
                f"The duration must be {seedance.MIN_DURATION} to {seedance.MAX_DURATION} seconds, not {duration}."
            )
        return duration

    def clean_seed(self) -> int | None:
        return normalize_seed(self.cleaned_data["seed"])

    def prompt_texts(self) -> list[str]:
        """Library prompts first, then typed ones; the same text (after whitespace folding) once."""
        picked = [p.text for p in self.cleaned_data.get("library_prompts") or []]
        seen: set[str] = set()
        texts = []
        for text in [*picked, *self.cleaned_data.get("typed_prompts", [])]:
            fingerprint = prompt_fingerprint(text)
            if fingerprint not in seen:
                seen.add(fingerprint)
                texts.append(text)
        return texts

    def clean(self):
        cleaned = super().clean()
        if "library_prompts" in cleaned and "typed_prompts" in cleaned and not self.prompt_texts():
            self.add_error(
                "typed_prompts", "Give at least one prompt: pick one from the library or type one (one per line)."
            )
        try:
            params = GenerationParams.from_raw(
                aspect_ratio=cleaned.get("aspect_ratio", ""),
                resolution=cleaned.get("resolution", ""),
                duration=cleaned.get("duration", seedance.DEFAULT_DURATION),
                camera_fixed=cleaned.get("camera_fixed", False),
                seed=cleaned.get("seed"),
                enable_safety_checker=cleaned.get("enable_safety_checker", False),
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, messages)
            return cleaned
        if params.seed is not None and "variations" in cleaned:
            last = params.seed + cleaned["variations"] - 1
            if last > seedance.MAX_SEED:
                self.add_error(
                    "seed",
                    f"With {cleaned['variations']} variations the seeds run {params.seed}…{last}, past the "
                    f"largest seed ({seedance.MAX_SEED}); choose a smaller seed or fewer variations.",
                )
        if self.errors:
            return cleaned
        try:
            self.plan = actions.plan(
                images=list(cleaned["images"]),
                prompt_texts=self.prompt_texts(),
                params=params,
                variations=cleaned["variations"],
            )
        except ValidationError as exc:
            self.add_error(None, exc)  # e.g. more generations than one request may create
        return cleaned


def initial_from_generation(generation: Generation) -> dict:
    """The generate form prefilled from a generation, for "remix with edited prompt" (new random seed)."""
    return {
        "images": [generation.source_image_id],
        # One prompt per line in the form; folding whitespace keeps it the same library prompt.
        "typed_prompts": " ".join(generation.prompt_text.split()),
        "aspect_ratio": generation.aspect_ratio,
        "resolution": generation.resolution,
        "duration": generation.duration,
        "camera_fixed": generation.camera_fixed,
        "seed": "",
        "enable_safety_checker": generation.enable_safety_checker,
        "variations": 1,
        "remix_of": generation.code,
    }


# --- The gallery's forms ---------------------------------------------------------


def _blank_first(choices) -> list:
    return [("", "Any"), *choices]


class GalleryFilterForm(forms.Form):
    """The gallery's filter bar (GET). A field with a bad value is dropped, the rest still apply."""

    q = forms.CharField(required=False, max_length=200, label="Prompt")
    status = forms.ChoiceField(required=False, choices=_blank_first(Generation.Status.choices))
    resolution = forms.ChoiceField(required=False, choices=_blank_first(seedance.Resolution.choices))
    aspect_ratio = forms.ChoiceField(
        required=False, choices=_blank_first(seedance.AspectRatio.choices), label="Aspect ratio"
    )
    duration = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=_blank_first(seedance.DURATION_CHOICES)
    )
    user = forms.CharField(required=False, max_length=150, label="Requested by")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    image = forms.UUIDField(required=False, widget=forms.HiddenInput)
    batch = forms.UUIDField(required=False, widget=forms.HiddenInput)
    sort = forms.ChoiceField(required=False, choices=[("newest", "Newest first"), ("oldest", "Oldest first")])

    def valid_data(self) -> dict:
        """cleaned_data without the fields that failed validation."""
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if k not in self.errors}


class PromptSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search prompts")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class ImageUploadForm(forms.Form):
    """Several images at once; each is then checked on its own by services.source_image_ingest."""

    MAX_FILES = 50

    files = forms.Field(
        label="Images",
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp", "multiple": True}),
        error_messages={"required": "Choose at least one image."},
    )

    def clean_files(self) -> list:
        files = [f for f in self.files.getlist(self.add_prefix("files")) if f is not None]
        if not files:
            raise ValidationError("Choose at least one image.")
        if len(files) > self.MAX_FILES:
            raise ValidationError(f"At most {self.MAX_FILES} images at a time, not {len(files)}.")
        return files

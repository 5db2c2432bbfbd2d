"""Forms for the admin's generate page.

The form checks what it can say field by field (a bad duration, a bad seed, a prompt
with a control character on line 3), then asks `actions.plan` for the whole request,
so the page shows exactly what `actions.request` would create and what it would cost.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, ProhibitNullCharactersValidator

from . import actions, seedance
from .models import COLLECTION_DESCRIPTION_MAX, Collection, Generation, Prompt, SourceImage
from .services import GenerationParams
from .validators import is_id, parse_id, prompt_fingerprint, validate_prompt_text

# The form fields GenerationParams.from_raw checks (named as its arguments).
PARAM_FIELDS = ("aspect_ratio", "resolution", "duration", "camera_fixed", "seed", "enable_safety_checker")


class _Picker(AutocompleteSelectMultiple):
    """The admin's searchable picker, ignoring values that are not ids (the field reports them)."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, [v for v in value if is_id(v)], attr)


class _IdsField(forms.ModelMultipleChoiceField):
    """Rows picked by id; a value that cannot be an id (validators.parse_id) gets its reason
    before any query: the database would overflow on a 30-digit one."""

    def __init__(self, *args, what: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.what = what

    def _check_values(self, value):
        for pk in value:
            parse_id(pk, what=self.what)
        return super()._check_values(value)


class _RawCheckbox(forms.CheckboxInput):
    """A checkbox whose posted value reaches the field as sent (absent: unticked)."""

    def value_from_datadict(self, data, files, name):
        return data.get(name, False) if name in data else False


class _RawBooleanField(forms.Field):
    """A yes/no field that leaves the judging to validators.parse_bool (via GenerationParams.from_raw)."""

    widget = _RawCheckbox

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)


class _PromptLinesField(forms.CharField):
    """The box of new prompts, as typed: clean_typed_prompts checks each line with the prompt rules.

    Not stripped as a whole (strip() would silently drop a trailing control character such as
    U+000B), and without CharField's null-character check, so a NUL gets the same message,
    with its line and position, as every other control character.
    """

    def __init__(self, **kwargs):
        super().__init__(strip=False, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class GenerateForm(forms.Form):
    images = _IdsField(
        what="an image id",
        queryset=SourceImage.objects.all(),
        label="Source images",
        error_messages={"required": "Choose at least one source image."},
    )
    library_prompts = _IdsField(
        what="a prompt id",
        queryset=Prompt.objects.all(),
        required=False,
        label="Prompts from the library",
        help_text="Search the prompt library by text or title.",
    )
    typed_prompts = _PromptLinesField(
        required=False,
        label="New prompts",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "class": "vLargeTextField"}),
        help_text="One prompt per line; they are added to the library.",
    )
    # Char fields with select widgets, and checkboxes that pass on what was posted:
    # GenerationParams.from_raw checks them all (the rules live in validators), so the
    # page says "must be 2 to 12 seconds, not 13" rather than "Select a valid choice",
    # and a forged "camera_fixed=banana" is refused rather than read as "on".
    aspect_ratio = forms.CharField(
        required=False, initial=seedance.DEFAULT_ASPECT_RATIO, widget=forms.Select(choices=seedance.AspectRatio.choices)
    )
    resolution = forms.CharField(
        required=False, initial=seedance.DEFAULT_RESOLUTION, widget=forms.Select(choices=seedance.Resolution.choices)
    )
    duration = forms.CharField(
        required=False, initial=seedance.DEFAULT_DURATION, widget=forms.Select(choices=seedance.DURATION_CHOICES)
    )
    camera_fixed = _RawBooleanField(initial=seedance.DEFAULT_CAMERA_FIXED, label="Camera fixed")
    seed = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"size": 14, "inputmode": "numeric"}),
        help_text=f"Empty or -1: a random seed for each video. 0 to {seedance.MAX_SEED}: "
        "variations use this seed, seed+1, seed+2, …",
    )
    enable_safety_checker = _RawBooleanField(initial=seedance.DEFAULT_ENABLE_SAFETY_CHECKER, label="Safety checker")
    variations = forms.IntegerField(
        initial=1,
        min_value=1,
        max_value=actions.MAX_VARIATIONS,
        label="Variations per prompt",
        widget=forms.NumberInput(attrs={"class": "gen-variations"}),  # admin.css: no style="" (CSP)
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
                # select2 sizes itself from data-width (a style="" would break the CSP).
                widget.attrs["data-width"] = "40em"
                self.fields[name].widget = widget

    def clean_typed_prompts(self) -> list[str]:
        texts = []
        errors = []
        # Lines end at a newline only (a browser sends CRLF): str.splitlines() would also
        # break at control characters such as U+000B or U+0085, hiding them from the check.
        lines = self.cleaned_data["typed_prompts"].replace("\r\n", "\n").split("\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip(" \t"):
                continue
            try:
                validate_prompt_text(line)  # as typed: strip() would drop control characters silently
            except ValidationError as exc:
                errors.extend(f"Line {number}: {message}" for message in exc.messages)
                continue
            texts.append(line.strip())
        if errors:
            raise ValidationError(errors)
        return texts

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
            params = GenerationParams.from_raw(**{name: cleaned.get(name) for name in PARAM_FIELDS})
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, messages)
            return cleaned
        cleaned.update(params.as_model_fields())  # typed values from here on (duration 5, seed None, …)
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


# A filter date becomes a moment in TIME_ZONE (the day after, for "to"); near year 1 or 9999
# that overflows Python's datetime and the databases', so the range is bounded well inside.
_DATE_RANGE = [
    MinValueValidator(date(1900, 1, 1), message="Dates start at 1900-01-01."),
    MaxValueValidator(date(9998, 12, 31), message="Dates end at 9998-12-31."),
]


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
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}), validators=_DATE_RANGE
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}), validators=_DATE_RANGE
    )
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


class CollectionForm(forms.Form):
    """A collection's name and description, when it is created or edited in the gallery
    (library.collection_create/update then normalise the name's spaces; the model checks again)."""

    name = forms.CharField(
        max_length=Collection._meta.get_field("name").max_length,
        error_messages={
            "required": "A collection needs a name.",
            "max_length": "A collection name is at most %(limit_value)d characters (this one has %(show_value)d).",
        },
    )
    description = forms.CharField(
        required=False,
        max_length=COLLECTION_DESCRIPTION_MAX,
        widget=forms.Textarea,
        error_messages={
            "max_length": (
                "A collection description is at most %(limit_value)d characters (this one has %(show_value)d)."
            ),
        },
    )

    def error_text(self) -> str:
        """Every error of the form, in words, for one message."""
        return " ".join(error for errors in self.errors.values() for error in errors)

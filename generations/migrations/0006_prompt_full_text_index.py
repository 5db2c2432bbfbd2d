"""A GIN index for the gallery's full-text prompt search, on PostgreSQL only.

The expression must match gallery.search_prompt_text: SearchVector("prompt_text",
config="english") compiles to to_tsvector('english'::regconfig, COALESCE(prompt_text, '')).
SQLite (embedded mode) searches with icontains and gets no index.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS gen_prompt_fts ON generations_generation "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(prompt_text, '')))"
)
DROP = "DROP INDEX IF EXISTS gen_prompt_fts"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("generations", "0005_library_tags_collections_trash")]

    operations = [migrations.RunPython(create, drop)]

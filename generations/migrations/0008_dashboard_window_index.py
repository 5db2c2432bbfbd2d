"""The dashboard's windowed figures (last 30 days, this month) at a million generations.

Measured with bench/gallery_dashboard.py: each of those aggregates read every row of the
period from the table (a bitmap heap scan: ~60,000 rows on ~7,000 pages at 1M generations, and
JIT compilation on top, as the plans' estimated costs passed jit_above_cost).

- gen_created_id ((-created_at, -id), the gallery's keyset index) is rebuilt on PostgreSQL with
  INCLUDE columns: those the aggregates read, so they are index-only scans of the period. Only
  in the database: Django's model state keeps the plain index (SQLite has no INCLUDE, and an
  Index(include=…) makes Django warn on every command there). A later migration that drops or
  rebuilds gen_created_id must keep the INCLUDE list (COVERING below) on PostgreSQL.
- Statistics on the UTC day of created_at (daily_activity groups by it), so PostgreSQL knows
  there are a few hundred days, not one per row, and aggregates in a small hash table instead
  of sorting the whole period on disk.
- Autovacuum for the generation table a little more often (at 1% changed or inserted rows rather
  than 20%), so the visibility map stays current and the index-only scans seldom visit the table.

Building the index locks writes to the generation table for a few seconds per million rows.
"""

from django.db import migrations

COVERING_COLUMNS = (
    "status",
    "cost",
    "estimated_cost",
    "cost_note",
    "requested_by_id",
    "batch_id",
    "submitted_at",
    "archived_at",
)
COVERING = (
    "CREATE INDEX gen_created_id ON generations_generation (created_at DESC, id DESC) "
    f"INCLUDE ({', '.join(COVERING_COLUMNS)})"
)
PLAIN = "CREATE INDEX gen_created_id ON generations_generation (created_at DESC, id DESC)"
DAY_STATISTICS = (
    "CREATE STATISTICS IF NOT EXISTS gen_created_day "
    "ON ((created_at AT TIME ZONE 'UTC')::date) FROM generations_generation"
)
AUTOVACUUM = (
    "ALTER TABLE generations_generation "
    "SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01)"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS gen_created_id")
        schema_editor.execute(COVERING)
        schema_editor.execute(DAY_STATISTICS)
        schema_editor.execute(AUTOVACUUM)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS gen_created_id")
        schema_editor.execute(PLAIN)
        schema_editor.execute("DROP STATISTICS IF EXISTS gen_created_day")
        schema_editor.execute(
            "ALTER TABLE generations_generation "
            "RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_insert_scale_factor)"
        )


class Migration(migrations.Migration):
    dependencies = [("generations", "0007_generation_status_counts")]

    operations = [migrations.RunPython(forwards, backwards)]

"""Per-status counts of generations (and their videos' bytes), kept by database triggers.

The dashboard's all-time figures (counts by status, storage used) read these few rows
instead of scanning every generation. The triggers run inside the statement that changes
the generation table, so a count changes in the same transaction as the rows it counts,
whichever code path wrote them (lifecycle.transition, bulk_create, the admin, a queryset
update, a raw SQL statement), and rolls back with it.

Exact under concurrency: every change is an arithmetic UPDATE (`count = count + n`) or an
INSERT … ON CONFLICT DO UPDATE of the status's row, never a read-modify-write, so two
transactions changing the same status queue on its row lock and neither loses the other's
change. A statement locks the rows it touches in ascending status order (one row per status,
at most two for a status change), so concurrent single-statement changes cannot deadlock.

- Insert: +1 (and + video_bytes) to the row of the new status, created when missing.
  On PostgreSQL a statement-level trigger with a transition table adds a whole bulk insert
  (bulk_create, COPY) in one upsert per status.
- Delete: −1 (and − video_bytes) from the old status's row (statement-level on PostgreSQL).
- Update of status or video_bytes: both of the above, one row trigger per changed row.
  Updates that change neither (progress, leases, ratings) do not fire it.

A decrement only ever applies to a row that exists (the generation leaving a status was
counted into it), so it is a plain UPDATE: that also keeps the counts consistent when a
test database is flushed table by table (SQLite), whichever table is emptied first.

`manage.py rebuild_generation_counts` recounts from the generation table (under a lock that
holds off writers) and re-installs the triggers if missing. On SQLite, a later migration
that makes Django remake the generation table (most AddField/AlterField there) drops its
triggers: such a migration must end with RunPython(install) from this module (the tests in
tests/dashboard/test_counters.py fail on SQLite until it does).
"""

from django.db import migrations, models

TABLE = "generations_generation"
COUNTS = "generations_generationstatuscount"

POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION gen_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {COUNTS} AS c (status, count, video_bytes)
        SELECT status, count(*), COALESCE(sum(video_bytes), 0) FROM gen_new GROUP BY status ORDER BY status
        ON CONFLICT (status) DO UPDATE
            SET count = c.count + EXCLUDED.count, video_bytes = c.video_bytes + EXCLUDED.video_bytes;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION gen_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        gone record;
    BEGIN
        FOR gone IN
            SELECT status, count(*) AS n, COALESCE(sum(video_bytes), 0) AS bytes
            FROM gen_old GROUP BY status ORDER BY status
        LOOP
            UPDATE {COUNTS} SET count = count - gone.n, video_bytes = video_bytes - gone.bytes
            WHERE status = gone.status;
        END LOOP;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION gen_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Lock the two rows in ascending status order (see the deleted/inserted triggers).
        IF OLD.status <= NEW.status THEN
            UPDATE {COUNTS} SET count = count - 1, video_bytes = video_bytes - COALESCE(OLD.video_bytes, 0)
            WHERE status = OLD.status;
        END IF;
        INSERT INTO {COUNTS} AS c (status, count, video_bytes) VALUES (NEW.status, 1, COALESCE(NEW.video_bytes, 0))
        ON CONFLICT (status) DO UPDATE
            SET count = c.count + EXCLUDED.count, video_bytes = c.video_bytes + EXCLUDED.video_bytes;
        IF OLD.status > NEW.status THEN
            UPDATE {COUNTS} SET count = count - 1, video_bytes = video_bytes - COALESCE(OLD.video_bytes, 0)
            WHERE status = OLD.status;
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE TRIGGER gen_counts_inserted AFTER INSERT ON {TABLE}
    REFERENCING NEW TABLE AS gen_new FOR EACH STATEMENT EXECUTE FUNCTION gen_counts_inserted()
    """,
    f"""
    CREATE OR REPLACE TRIGGER gen_counts_deleted AFTER DELETE ON {TABLE}
    REFERENCING OLD TABLE AS gen_old FOR EACH STATEMENT EXECUTE FUNCTION gen_counts_deleted()
    """,
    f"""
    CREATE OR REPLACE TRIGGER gen_counts_updated AFTER UPDATE OF status, video_bytes ON {TABLE}
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.video_bytes IS DISTINCT FROM NEW.video_bytes)
    EXECUTE FUNCTION gen_counts_updated()
    """,
]
POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS gen_counts_inserted ON {TABLE}",
    f"DROP TRIGGER IF EXISTS gen_counts_deleted ON {TABLE}",
    f"DROP TRIGGER IF EXISTS gen_counts_updated ON {TABLE}",
    "DROP FUNCTION IF EXISTS gen_counts_inserted()",
    "DROP FUNCTION IF EXISTS gen_counts_deleted()",
    "DROP FUNCTION IF EXISTS gen_counts_updated()",
]

_SQLITE_ADD_NEW = f"""
    INSERT INTO {COUNTS} (status, count, video_bytes) VALUES (NEW.status, 1, COALESCE(NEW.video_bytes, 0))
    ON CONFLICT (status) DO UPDATE
        SET count = count + excluded.count, video_bytes = video_bytes + excluded.video_bytes;
"""
_SQLITE_REMOVE_OLD = f"""
    UPDATE {COUNTS} SET count = count - 1, video_bytes = video_bytes - COALESCE(OLD.video_bytes, 0)
    WHERE status = OLD.status;
"""
# SQLite has row triggers only; writers are serialised by the database lock.
SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS gen_counts_inserted AFTER INSERT ON {TABLE} BEGIN {_SQLITE_ADD_NEW} END",
    f"CREATE TRIGGER IF NOT EXISTS gen_counts_deleted AFTER DELETE ON {TABLE} BEGIN {_SQLITE_REMOVE_OLD} END",
    f"""
    CREATE TRIGGER IF NOT EXISTS gen_counts_updated AFTER UPDATE OF status, video_bytes ON {TABLE}
    WHEN OLD.status IS NOT NEW.status OR OLD.video_bytes IS NOT NEW.video_bytes
    BEGIN {_SQLITE_REMOVE_OLD} {_SQLITE_ADD_NEW} END
    """,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS gen_counts_inserted",
    "DROP TRIGGER IF EXISTS gen_counts_deleted",
    "DROP TRIGGER IF EXISTS gen_counts_updated",
]
TRIGGER_NAMES = ("gen_counts_inserted", "gen_counts_deleted", "gen_counts_updated")

RECOUNT = (
    f"INSERT INTO {COUNTS} (status, count, video_bytes) "
    f"SELECT status, count(*), COALESCE(sum(video_bytes), 0) FROM {TABLE} GROUP BY status"
)


def _statements(vendor: str, *, drop: bool = False) -> list[str]:
    if vendor == "postgresql":
        return POSTGRESQL_DROP if drop else POSTGRESQL_INSTALL
    if vendor == "sqlite":
        return SQLITE_DROP if drop else SQLITE_INSTALL
    raise NotImplementedError(f"No generation-count triggers for {vendor}.")


def install_triggers(connection) -> None:
    """Create the triggers (idempotent: replaces them on PostgreSQL, skips existing ones on SQLite)."""
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor):
            cursor.execute(statement)


def drop_triggers(connection) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, drop=True):
            cursor.execute(statement)


def install(apps, schema_editor):
    install_triggers(schema_editor.connection)
    # Count the rows already there. On PostgreSQL, CREATE TRIGGER has locked the table against
    # writers until this migration commits, so nothing changes between the recount and the
    # triggers taking over.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {COUNTS}")
        cursor.execute(RECOUNT)


def uninstall(apps, schema_editor):
    drop_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("generations", "0006_prompt_full_text_index")]

    operations = [
        migrations.CreateModel(
            name="GenerationStatusCount",
            fields=[
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("submitted", "Submitted"),
                            ("in_queue", "In queue"),
                            ("in_progress", "In progress"),
                            ("archiving", "Archiving"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("cancelling", "Cancelling"),
                            ("cancelled", "Cancelled"),
                        ],
                        max_length=16,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("count", models.BigIntegerField(default=0)),
                (
                    "video_bytes",
                    models.BigIntegerField(default=0, help_text="Sum of video_bytes (empty counts as 0)."),
                ),
            ],
            options={"verbose_name": "generation status count"},
        ),
        migrations.RunPython(install, uninstall),
    ]

"""Storage in Dagster: after every successful run, from the UI, a schedule or the daemon, the
read copy of the results is published (``crypto_assets.storage.publish``), so readers never need
the pipeline's own database file. Runs launched by the CLI publish at their end themselves; when
the daemon also runs, both publish, one after the other (the lock orders them).
"""

import dagster as dg

from crypto_assets.defs.partitions import Partitions
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.storage.publish import NothingPublished, publish


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="publish_read_copy",
    description="Publishes the read copy of the DuckDB results after each successful run "
    "(readers: CLI status/top, dashboard, notebooks).",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def publish_read_copy(
    context: dg.RunStatusSensorContext, duckdb: DuckDBStore
) -> dg.SkipReason | None:
    try:
        publication = publish(duckdb.database, run_id=context.dagster_run.run_id)
    except NothingPublished as missing:  # a run that wrote nothing to DuckDB yet
        return dg.SkipReason(str(missing))
    context.log.info(
        f"published {publication.path} ({len(publication.tables)} tables, "
        f"{publication.seconds:.1f} s) after run {context.dagster_run.run_id}"
    )
    return None


def build_defs(partitions: Partitions) -> dg.Definitions:
    """The publish sensor (no assets)."""
    del partitions
    return dg.Definitions(sensors=[publish_read_copy])

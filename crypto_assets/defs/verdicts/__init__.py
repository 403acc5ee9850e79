"""Users' verdicts in Dagster: the ``user_verdicts`` asset copies the dashboard's verdict store
into ``crypto.user_verdicts`` (the table and columns the feedback loop reads), a pipeline job
that runs it with every ``crypto-assets run`` / ``demo``, and a sensor that runs it when new
verdicts were stored. Resource keys: ``verdict_store``, ``io_manager``."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job
from crypto_assets.resources.verdict_store import VerdictStoreResource

VERDICTS_GROUP = "feedback"


@dg.asset(group_name=VERDICTS_GROUP, kinds={"sqlite", "duckdb"})
def user_verdicts(verdict_store: VerdictStoreResource) -> dg.Output[pd.DataFrame]:
    """Users' good / bad marks on predictions (with a note), keyed by the prediction they judge
    (day, symbol, horizon, model_version): the dashboard's store copied as it is, every mark
    kept (a changed mind is a newer row; the latest per author counts). The store validates
    each mark before it is written; the feedback loop validates again where it reads them."""
    frame = verdict_store.read()
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "good": int((frame["verdict"] == "good").sum()),
            "bad": int((frame["verdict"] == "bad").sum()),
            "source": verdict_store.describe(),
            "preview": dg.MetadataValue.md(
                frame.tail(10).to_markdown(index=False) if len(frame) else "no verdicts yet"
            ),
        },
    )


def build_defs(partitions: Partitions) -> dg.Definitions:
    del partitions
    verdicts_job = pipeline_job(
        "verdicts_job",
        dg.AssetSelection.assets("user_verdicts"),
        Scope.ONCE,
        "Users' verdicts from the dashboard's store into crypto.user_verdicts.",
    )

    @dg.sensor(
        job=verdicts_job,
        name="user_verdicts_stored",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def user_verdicts_stored(
        context: dg.SensorEvaluationContext, verdict_store: VerdictStoreResource
    ) -> dg.SensorResult | dg.SkipReason:
        """Copies the store when it holds verdicts the table has not seen (cursor: count)."""
        count = verdict_store.count()
        if str(count) == (context.cursor or "0"):
            return dg.SkipReason(f"no new verdicts ({count} stored)")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"verdicts-{count}")], cursor=str(count)
        )

    return dg.Definitions(
        assets=[user_verdicts], jobs=[verdicts_job], sensors=[user_verdicts_stored]
    )

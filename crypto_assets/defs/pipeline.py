"""Which jobs make up a whole-graph run (``crypto-assets run`` / ``demo``), and how each is run.

A job joins the pipeline by being defined with :func:`pipeline_job`; the runner collects those
jobs from the Definitions, orders them by the asset graph (a job runs after every job that holds
one of its assets' ancestors) and runs each with its scope. A new domain adds its own pipeline
job in its ``defs/<domain>/__init__.py`` and the CLI runs it with no further edit.
"""

from __future__ import annotations

from enum import StrEnum

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

PIPELINE_SCOPE = "crypto_assets/pipeline_scope"
PROFILE_TAG = "crypto_assets/profile"


class Scope(StrEnum):
    RANGE = "range"  # daily job: every day of the requested range, in one run
    LATEST = "latest"  # daily job: only the last day of the range (today's answer)
    EACH_PARTITION = "each_partition"  # e.g. one run per horizon
    ONCE = "once"  # unpartitioned job: one run


def pipeline_job(
    name: str,
    selection: dg.AssetSelection | str,
    scope: Scope,
    description: str,
    partitions_def: dg.PartitionsDefinition | None = None,
) -> UnresolvedAssetJobDefinition:
    """An asset job that whole-graph runs include, with how they run it."""
    return dg.define_asset_job(
        name,
        selection=selection,
        partitions_def=partitions_def,
        description=description,
        metadata={PIPELINE_SCOPE: scope.value},
    )

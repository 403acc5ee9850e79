"""Asset checks every domain shares."""

from __future__ import annotations

import dagster as dg

from crypto_assets.sources import SourceStatus


def source_status_check(check_name: str, status: SourceStatus) -> dg.AssetCheckResult:
    """A WARN check that fails when the source gave nothing usable, with the reason: the
    asset then stored only what it really got (never invented rows)."""
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=status.usable,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{status.source}: {status.status}"
        + (f" ({status.reason})" if status.reason else ""),
        metadata={
            "source": status.source,
            "status": status.status,
            "reason": status.reason or "-",
            "as_of": str(status.as_of),
            "rows": status.rows,
        },
    )

"""On-chain domain (pure): the source contract, address labels, whale transfers, exchange flows,
holder concentration, network metrics, coin <-> contract mapping, and the as-of join of all of
it onto the feature frame. Nothing here imports Dagster, ``defs`` or ``resources``."""

"""The feedback loop in Dagster: the outcome log, model health, feature drift, their checks and
the three drift sensors that ask ``retrain_job`` for a retrain.

Resources it needs (merged in by crypto_assets/definitions.py): ``duckdb``, ``io_manager``,
``mlflow`` and ``feedback_policy`` (``FeedbackPolicyResource.from_settings(settings)``); the
sensors target the job named ``retrain_job`` (partitioned by horizon).
"""

import dagster as dg

from crypto_assets.defs.feedback.drift import feature_drift
from crypto_assets.defs.feedback.health import model_health
from crypto_assets.defs.feedback.outcomes import prediction_outcomes, user_verdicts
from crypto_assets.defs.feedback.sensors import drift_sensors

feedback_assets = [user_verdicts, prediction_outcomes, model_health, feature_drift]
defs = dg.Definitions(assets=feedback_assets, sensors=drift_sensors)

"""Dagster resources: one per external system, each with a live and a replay/snapshot form."""

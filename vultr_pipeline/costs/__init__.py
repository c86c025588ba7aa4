"""Cost logic: plain functions over pandas DataFrames, with no Dagster or ClickHouse inside.

Inputs are frames with the columns of the raw tables (see `vultr_pipeline.defs.tables`); money
columns hold `decimal.Decimal` values and stay Decimal in every output.
"""

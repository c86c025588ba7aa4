"""ClickHouse storage for Dagster assets: engines (chDB or a server) and the IO manager.

The package imports nothing itself, so that the chDB HTTP endpoint
(``python -m vultr_pipeline.clickhouse.chdb_http``) starts without loading Dagster.
"""

"""The lake: Hive-partitioned Parquet on a local folder or an object store, the registry of ingested
files, the durable spool in front of it, and compaction. It stores what its producers describe
(:class:`~devflow.lake.tables.PartitionedTable`) and knows nothing of telemetry or metrics."""

"""The usage ledger: every proxied call, from the hot path to the database.

``events`` (request ids, publishing), ``event_record`` (the record itself), ``recorder`` (the proxy's
batches of records), ``stream`` (draining the Redis stream), ``spool`` (the local last resort),
``ingest`` and ``rollups`` (the database writes), ``partitions`` and ``retention``.
"""

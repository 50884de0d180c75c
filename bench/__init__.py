"""The benchmark: ``python -m bench`` (``make bench``) measures every performance target of docs/performance.md.

``bench.harness`` runs it - the section runner, the servers it starts (Tokenwise, the demo upstream, Celery),
the load generator, the scratch database and its generated data set, the PASS/FAIL report; ``bench.probes``
holds what is measured - one module per section (proxy, ledger, memory, reports, detectors), the
reference forwarders (bare, floor) and the stand-alone investigation tools (phases, profiles, client
comparisons).
"""

"""What the benchmark measures: one module per ``python -m bench`` section, the reference forwarders the
proxy is compared with (``bare``, ``floor``), and stand-alone probes run with ``python -m bench.probes.NAME``."""

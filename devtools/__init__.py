"""Development tools, not part of the product: the demo upstream (a synthetic OpenAI/Anthropic server), the
simulated organisation that measures the detectors, and the synthetic-usage generator shared by
``seed_demo``, ``simulate_org`` and the benchmark. The product packages import none of it, except the
management commands that exist to drive it (the import-linter contract ``devtools-outside-product``)."""

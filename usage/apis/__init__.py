"""The REST API under ``/api/`` (ledger side): usage, outcomes, feedback."""

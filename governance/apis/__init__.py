"""The REST API under ``/api/`` (governance side): thin ``<Entity><Action>Api`` views."""

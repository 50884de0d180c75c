"""A simulated organisation for measuring the usage-chasing detectors.

``org.org_plan`` decides who is who (honest people of several working styles, heavy but productive
users, and each kind of chaser), ``behaviour.person_history`` writes each person's calls, outcomes and
ratings, ``files.scenario_write`` puts them on disk in the import formats (with the answer key kept in
``truth.json``), ``services.scenario_load`` loads them through the product's import paths, and
``services.scenario_evaluate`` runs detection and scores it (``evaluation``). Everything but
``services`` is pure and Django-free. Entry points: ``manage.py simulate_org`` and ``evaluate_detectors``.
"""

"""Every read of governance data, one module per subject; writes live in ``governance.services``.

Selectors return querysets or frozen dataclasses and are shared by the web pages, the REST API, the
weekly digest, the exports and the detection run. Usage figures come from ``usage.models.DailyRollup``
(days in the organisation's time zone) and ledger rows through ``usage.selectors``, the only door from
governance into usage.

- ``api``: what an API caller may see - the per-caller querysets every ``/api/`` read starts from;
- ``teams``, ``keys``, ``policies``, ``providers``, ``pricing``, ``audit``: the organisation as the admin
  pages and the API list it (teams and memberships, a person's keys, policy levels, providers and
  routes, prices and the models still to be priced, the audit log);
- ``team``, ``people``, ``org``, ``admin_overview``: the report pages (a team's report; a person, by id
  or e-mail, with their usage and person page; the organisation summary; the admin's overview), built
  from ``rollups``, ``budgets`` (limits and burn-down), ``value`` (value tallies and metrics),
  ``drivers`` (what drove spend) and ``flags`` (flags as pages show them, and a flag's chart);
- ``calls``: the request log, newest first;
- ``detection``: the detectors' inputs, their thresholds per team, and flags as export records.

Periods and report windows (``governance.periods``) are values, not reads.
"""

"""Incident reviews (RCAs): ``homelab rca`` writes one from the evidence, ``homelab rca validate`` takes the
person's word on it.

- :mod:`.evidence`: the diagnosis plans' findings (one interface for any read step's report), the fixes
  applied after them and the session-log lines, as plain data;
- :mod:`.document`: the review as ``docs/rca/YYYY-MM-DD-<slug>.md`` in the house format (docs/rca/README.md),
  every claim with its evidence, host text escaped, questions where the data says nothing;
- :mod:`.validate`: a complete draft becomes validated, and the knowledge base and the docs learn its issue.
"""

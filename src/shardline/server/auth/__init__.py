"""Who may call a region, and what they may do (see docs/security.md).

- ``keys``: the credentials file (access keys, accounts, identity policies, admins);
- ``sigv4``: AWS Signature Version 4, verified as AWS verifies it;
- ``gate``: per request, the Host check (without credentials), authentication and the
  admin rule;
- ``policy`` and ``wildcard``: IAM-style policy documents and linear-time patterns;
- ``access``: AWS's evaluation of identity and resource policies (AccessDeniedException).

``server.targets`` maps a call to the account and resource these judge; ``server.app``
applies them in the envelope's order.
"""

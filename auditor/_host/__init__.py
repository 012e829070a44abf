"""Host facts of a node: SSH, firewall, mandatory access control, OS and services, NixOS.

A domain package: it reads a host (the live system, or a recorded tree under a root folder)
through :class:`auditor._host.system.Host`, parses what it reads and judges it (effective sshd
settings, what the firewall admits, drift between the declared NixOS configuration and the
running system). It knows nothing of evidence records: the `host` collector turns its typed
results into evidence. Everything is read-only; commands run only through the
:class:`~auditor._host.system.CommandRunner` seam, so a remote runner can take its place.
"""

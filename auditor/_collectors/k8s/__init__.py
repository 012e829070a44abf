"""Kubernetes manifests as evidence: reading them (files, stdin, a live cluster), knowing their
kinds, and describing pod specs in the form the container rules read.

The collector itself is :mod:`auditor._collectors.kubernetes`; docs/kubernetes.md describes the
evidence and the rules.
"""

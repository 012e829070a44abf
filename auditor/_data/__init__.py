"""Data shipped with auditor (checklist catalogues), read with importlib.resources."""

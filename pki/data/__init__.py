"""Data shipped with pki: certificate profiles (profiles/*.yaml)."""

"""Evidence bundles: self-describing, schema-valid, content-hashed collections of records."""

from auditor.evidence.bundle import Bundle, read_bundle

__all__ = ["Bundle", "read_bundle"]

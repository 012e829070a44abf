"""Loading user files safely: YAML with line numbers, and JSON Schema validation that names them."""

from auditor._loader.yamlfile import Document, load_yaml, load_yaml_documents

__all__ = ["Document", "load_yaml", "load_yaml_documents"]

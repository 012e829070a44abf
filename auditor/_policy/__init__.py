"""Rules, policy packs and checklists: loading, validation and resolution.

Rules are YAML data (rules/), validated by the published rule schema; their conditions and
message templates are CEL compiled once at load. Policy packs (policies/) select rules,
override params and severities, and declare waivers.
"""

from auditor._policy.catalog import Catalog, ResolvedPolicy
from auditor._policy.pack import PolicyPack
from auditor._policy.rule import Rule

__all__ = ["Catalog", "PolicyPack", "ResolvedPolicy", "Rule"]

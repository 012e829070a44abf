"""The published JSON Schemas (package data), read with importlib.resources.

inventory, rule, policy, checklist, bundle and findings describe the files users write or
read; evidence/<kind> describes the data of each evidence kind; collectors/<name> describes the
options of each evidence source in an inventory. `auditor schema NAME` prints any of them.
"""

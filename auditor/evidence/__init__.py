"""Evidence: typed records (one definition per kind) and the bundles that carry them."""

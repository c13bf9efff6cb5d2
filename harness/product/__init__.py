"""Products: a vendor's submission, and bringing it up and down on a target.

- manifest.py   `products/<id>/product.toml` loaded into a `Product` and validated whole (every problem at once)
- lifecycle/    the lifecycle driver: install, start, health, stop, uninstall, residue snapshots, on any target
- deploy.py     `deployed(...)`: a product installed, started and healthy for the suites that measure it

The manifest API is importable from the package itself (`from harness.product import load_product`).
Artifacts (fetching and reading packages) are `harness.artifacts`.
"""

from harness.product.manifest import (
    APT_NAME_RE,
    APT_VERSION_RE,
    ARCH_ALIASES,
    ARTIFACT_TYPES,
    CATEGORIES,
    CERTIFY_SUITES,
    CONTROL_RE,
    HEALTH_TYPES,
    ID_RE,
    MANIFEST,
    OS_RE,
    PASSTHROUGH,
    SERVICE_RE,
    Artifact,
    HealthProbe,
    Lifecycle,
    Platform,
    Product,
    SmokeTest,
    canonical_arch,
    describe,
    load_product,
    manifest_path,
    product_record,
    write_product_json,
)

__all__ = ['MANIFEST', 'CATEGORIES', 'ARTIFACT_TYPES', 'HEALTH_TYPES', 'ARCH_ALIASES', 'PASSTHROUGH', 'CERTIFY_SUITES', 'ID_RE', 'APT_NAME_RE', 'APT_VERSION_RE', 'SERVICE_RE', 'OS_RE', 'CONTROL_RE', 'Platform', 'Artifact', 'HealthProbe', 'Lifecycle', 'SmokeTest', 'Product', 'canonical_arch', 'manifest_path', 'load_product', 'product_record', 'write_product_json', 'describe']

"""`auditor scan`: collect and evaluate in one go; `auditor evaluate`: a bundle from elsewhere."""

from __future__ import annotations

import argparse
from typing import Any

from auditor.cli import _common, _fleet, _history


def register(sub: Any) -> None:
    p = sub.add_parser(
        "scan",
        help="collect evidence from a target and evaluate the rules on it",
        description=(
            "Collect evidence from the target's sources, evaluate its policy packs and report "
            "the findings. Without --inventory, ./auditor.yaml is used, else the embedded demo "
            "inventory (target cim-prod-001), saying so on stderr; --all and --tag refuse that "
            "fallback unless --demo is given."
        ),
    )
    _fleet.add_options(p)
    _common.add_inventory(p)
    _common.add_evaluation(p)
    _common.add_catalog(p)
    p.add_argument("--bundle", metavar="FILE", help="also write the evidence bundle here")
    _history.add_store(p)
    p.set_defaults(handler=run_scan)

    e = sub.add_parser(
        "evaluate",
        help="evaluate an evidence bundle (written by `auditor collect`, perhaps elsewhere)",
        description="Evaluate a bundle written by `auditor collect`: the air-gapped half of a scan.",
    )
    e.add_argument("bundle", metavar="BUNDLE", help="evidence bundle (JSON)")
    _common.add_inventory(e)
    _common.add_evaluation(e)
    _common.add_catalog(e)
    _history.add_store(e)
    e.set_defaults(handler=run_evaluate)


def run_scan(args: argparse.Namespace) -> int:
    from auditor._scan import EvaluateOptions, scan_target
    from auditor.errors import ConfigError
    from auditor.progress import Steps

    if _fleet.requested(args):
        return _fleet.run(args)
    if args.path:
        from auditor.inventory.adhoc import path_target

        if args.inventory or args.demo:
            raise ConfigError("--path scans files without an inventory; drop --inventory and --demo", field="--path")
        if not args.policy:
            raise ConfigError("scanning paths needs --policy PACK (for example --policy pss-restricted)")
        target = path_target(args.path, args.policy)
        catalog = _common.load_catalog(args)
    else:
        inventory = _common.load_inventory(args)
        target = inventory.target(args.target)
        catalog = _common.load_catalog(args, inventory)
    options = EvaluateOptions(policies=args.policy, now=_common.parse_at(args), fail_on=_common.fail_on(args))
    bundle, result = scan_target(target, options, catalog=catalog, progress=Steps())
    if args.bundle:
        _common.emit(bundle.to_json(), args.bundle)
    del bundle  # the report needs none of its records: a large scan lets them go before rendering
    _common.emit(_common.render_result(args, result), args.output, styled=True)
    return _history.stored(args, result, origin="scan")


def run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from auditor._scan import EvaluateOptions, evaluate_bundle
    from auditor.evidence.bundle import read_bundle

    bundle = read_bundle(Path(args.bundle))
    catalog = _common.load_catalog(args, _common.load_inventory(args))
    options = EvaluateOptions(policies=args.policy, now=_common.parse_at(args), fail_on=_common.fail_on(args))
    result = evaluate_bundle(bundle, options, catalog=catalog)
    _common.emit(_common.render_result(args, result), args.output, inputs=(args.bundle,), styled=True)
    return _history.stored(args, result, origin="evaluate")

"""`relstream features apply|get`: register the Feast repo and print online features."""

from __future__ import annotations

import argparse
import json


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    features = commands.add_parser("features", help="the Feast feature repo (apply, get)")
    sub = features.add_subparsers(dest="features_command", metavar="ACTION", required=True)
    apply = sub.add_parser("apply", help="register entities, feature views, push sources, "
                           "feature services (idempotent)")
    apply.set_defaults(func=_apply)
    get = sub.add_parser("get", help="print the online features of a query, item or pair")
    get.add_argument("--query", help="query text (normalised like the stream does)")
    get.add_argument("--item", dest="item_id", help="item id")
    get.set_defaults(func=_get)


def _apply(args: argparse.Namespace) -> int:
    from feature_store.config import FeatureStoreSettings, apply_repo, repo_dir

    settings = FeatureStoreSettings()
    apply_repo(settings)
    print(f"applied feature repo at {repo_dir(settings)}")
    return 0


def _get(args: argparse.Namespace) -> int:
    from feature_store.client import get_online
    from feature_store.config import FeatureStoreSettings, open_store, repo_dir
    from feature_store.errors import FeatureStoreError

    if args.query is None and args.item_id is None:
        raise FeatureStoreError("give --query, --item or both")
    settings = FeatureStoreSettings()
    if not (repo_dir(settings) / "registry.db").exists():
        raise FeatureStoreError(f"no feature repo at {repo_dir(settings)}: run `relstream "
                                "features apply` (or `relstream streams run`) first")
    store = open_store(settings)
    print(json.dumps(get_online(store, args.query, args.item_id), indent=2, default=str))
    return 0

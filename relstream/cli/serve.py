"""`relstream serve`, `relstream ab-report` and `relstream bench serving`.

Heavy imports (onnxruntime, fastapi, matplotlib, torch) happen inside the commands so
`relstream --help` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

REGISTRY_HELP = "model registry root (default: RELSTREAM_REGISTRY_DIR, else <state_dir>/registry)"


def _serve(args: argparse.Namespace) -> int:
    from serving.app import run
    from serving.settings import ServingSettings

    overrides: dict[str, Any] = {
        "host": args.host, "port": args.port, "registry": args.registry,
        "model_name": args.model, "catalog_path": args.catalog, "ab_config_path": args.ab_config,
        "feature_repo": args.feature_repo,
    }
    if args.report_labels is not None:
        overrides["report_labels_path"] = args.report_labels
    if args.feast:
        overrides["item_source"] = "feast"
    if args.follow:
        overrides.update(consume_model_updates=True, consume_teacher_labels=True,
                         consume_feedback=True, consume_catalog=True)
    settings = ServingSettings(**{k: v for k, v in overrides.items() if v is not None})
    run(settings)
    return 0


def _ab_report(args: argparse.Namespace) -> int:
    from serving.ab_render import render_text, save
    from serving.settings import ServingSettings

    settings = ServingSettings()
    if args.server:
        report = _report_from_server(args, settings.admin_token)
    else:
        from relstream.core.clickhouse import get_client
        from serving.ab_report import compute_report

        report = compute_report(
            get_client(settings), args.experiment, requests_table=settings.metrics_table,
            feedback_table=settings.feedback_table, labels=args.labels,
            pre_experiment=args.pre_experiment, baseline=args.baseline, alpha=args.alpha,
            min_requests=args.min_requests,
        )
    print(render_text(report))
    json_path, png_path = save(report, args.out)
    print(f"saved {json_path} and {png_path}")
    return 0


def _report_from_server(args: argparse.Namespace, token: str) -> Any:
    """The report computed by a running `relstream serve` (GET /admin/ab-report)."""
    import httpx

    from serving.ab_report import ABReport
    from serving.errors import ServingError

    if args.labels is not None:
        raise ServingError("with --server the labels are the server's: start it with "
                           "`relstream serve --report-labels labels.jsonl` (drop --labels here)")
    if not token:
        raise ServingError("--server needs the server's admin token in RELSTREAM_ADMIN_TOKEN")
    params = {k: v for k, v in {"experiment": args.experiment, "pre_experiment":
              args.pre_experiment, "baseline": args.baseline, "alpha": args.alpha,
              "min_requests": args.min_requests}.items() if v is not None}
    try:
        resp = httpx.get(f"{args.server.rstrip('/')}/admin/ab-report", params=params,
                         headers={"Authorization": f"Bearer {token}"}, timeout=120)
    except httpx.HTTPError as exc:
        raise ServingError(f"cannot reach the server at {args.server}: {exc}") from exc
    if resp.status_code != 200:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:  # not JSON (a proxy's error page, say): show the text
            detail = resp.text[:500]
        raise ServingError(f"the server answered {resp.status_code}: {detail}")
    return ABReport.from_json(resp.json())


def _ab_simulate(args: argparse.Namespace) -> int:
    from relstream.tools.loadgen.ab_sim import run_against_server, run_world
    from serving.settings import ServingSettings

    overrides: dict[str, Any] = {"ab_config_path": args.ab_config, "registry": args.registry}
    settings = ServingSettings(**{k: v for k, v in overrides.items() if v is not None})
    if args.server:
        if args.ab_config or args.registry:
            from serving.errors import ServingError

            raise ServingError("with --server the arms and models are the server's: drop "
                               "--ab-config and --registry")
        stats = run_against_server(settings, args.server, args.world, limit=args.searches,
                                   seed=args.seed)
    else:
        stats = run_world(settings, args.world, limit=args.searches, seed=args.seed)
    print(f"{stats.searches} searches scored ({stats.skipped} without results skipped, "
          f"{stats.failed} failed), {stats.feedback} feedback events, by arm {stats.by_arm}")
    return 0


def _bench_serving(args: argparse.Namespace) -> int:
    from relstream.tools.bench.serving import run_bench

    return run_bench(args)


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="run the scoring API (POST /v1/score, GET /v1/explain, /metrics)",
        description="Serve the registry's students with hot swap and A/B arms. Settings come "
        "from RELSTREAM_* variables; these flags override them.",
    )
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--registry", type=Path, help=REGISTRY_HELP)
    serve.add_argument("--model", help="model name of the default arm (cross_encoder)")
    serve.add_argument("--catalog", type=Path, help="catalog.jsonl kept in memory")
    serve.add_argument("--feast", action="store_true",
                       help="read items from the Feast online store instead of --catalog")
    serve.add_argument("--feature-repo", type=Path,
                       help="Feast repo (default <state_dir>/feature_repo)")
    serve.add_argument("--ab-config", type=Path, help="A/B arms as JSON")
    serve.add_argument("--report-labels", type=Path, metavar="LABELS",
                       help="labels.jsonl for the NDCG@10 of GET /admin/ab-report "
                       "(`relstream ab-report --server`)")
    serve.add_argument("--follow", action="store_true",
                       help="consume model-updates, teacher-labels, feedback and (in-memory "
                       "catalog only) the catalog topic from Kafka")
    serve.set_defaults(func=_serve)

    report = commands.add_parser(
        "ab-report", help="per-arm metrics, differences, Welch tests and CUPED of an experiment",
        description="Reads the serving tables in ClickHouse (RELSTREAM_CLICKHOUSE_URL) and "
        "prints a table; writes JSON and a PNG chart.",
    )
    report.add_argument("--experiment", required=True, help="experiment name in the A/B config")
    report.add_argument("--labels", type=Path, help="labels.jsonl: adds NDCG@10")
    report.add_argument("--pre-experiment", help="experiment whose data is the CUPED covariate")
    report.add_argument("--baseline", help="baseline arm (default: first arm by name)")
    report.add_argument("--alpha", type=float, default=0.05, help="significance level")
    report.add_argument("--min-requests", type=int, default=200,
                        help="warn when an arm has fewer requests")
    report.add_argument("--out", type=Path, default=Path("ab-reports"), help="output dir")
    report.add_argument("--server", metavar="URL",
                        help="ask a running `relstream serve` (GET /admin/ab-report, token "
                        "from RELSTREAM_ADMIN_TOKEN) instead of opening ClickHouse here: an "
                        "embedded ClickHouse admits one process, the server's")
    report.set_defaults(func=_ab_report)

    sim = commands.add_parser(
        "ab-simulate", help="replay a simulated world's searches through the service's arms",
        description="Scores each search of <world>/search_log.jsonl in-process with the A/B "
        "config, simulates users' feedback with the simulator's click model and the world's "
        "labels, and writes requests and feedback to ClickHouse for `ab-report`.",
    )
    sim.add_argument("--world", type=Path, required=True, help="`relstream simulate` output")
    sim.add_argument("--ab-config", type=Path, help="A/B arms as JSON")
    sim.add_argument("--registry", type=Path, help=REGISTRY_HELP)
    sim.add_argument("--searches", type=int, help="replay only the first N searches")
    sim.add_argument("--seed", type=int, default=0, help="click-model randomness")
    sim.add_argument("--server", metavar="URL",
                     help="send the searches to a running `relstream serve --follow` over HTTP "
                     "and the simulated feedback to the search-log topic, as real users' "
                     "would go (the server then owns ClickHouse); default: in-process app")
    sim.set_defaults(func=_ab_simulate)

    bench_serving = bench.add_parser(
        "serving", help="server vs raw onnxruntime, p99 during swaps, and the cascade, in one run",
        description="Trains (once, cached) and publishes MiniLM students on a simulated world, "
        "then measures raw onnxruntime on the served batches, the server at saturation and "
        "during hot swaps, and the two-tower → cross-encoder cascade; writes "
        "<out>/bench-serving.json and .md.",
    )
    bench_serving.add_argument("--clients", type=int, default=8,
                               help="closed-loop clients (enough to keep every slot busy)")
    bench_serving.add_argument("--items", type=int, default=20, help="items per request")
    bench_serving.add_argument("--steady-s", type=float, default=30.0)
    bench_serving.add_argument("--swap-s", type=float, default=60.0)
    bench_serving.add_argument("--swaps", type=int, default=20)
    bench_serving.add_argument("--raw-s", type=float, default=5.0,
                               help="seconds per raw onnxruntime thread layout (to pick the "
                               "best; the baseline itself runs as long as the steady phase)")
    bench_serving.add_argument("--rounds", type=int, default=5,
                               help="rounds of [steady, raw baseline, swaps]: the phases "
                               "alternate so drifting machine load hits all three alike")
    bench_serving.add_argument("--raw-batches", type=int, default=200,
                               help="distinct request batches in the raw baseline")
    bench_serving.add_argument("--candidates", type=int, default=100,
                               help="items per validation query in the cascade comparison")
    bench_serving.add_argument("--rescore-k", type=int, default=15,
                               help="top k the cross-encoder rescores in the cascade")
    bench_serving.add_argument("--cascade-queries", type=int, default=0,
                               help="validation queries in the cascade comparison (0 = all)")
    bench_serving.add_argument("--train-steps", type=int, default=300)
    bench_serving.add_argument("--layers", type=int, default=3, help="MiniLM layers kept")
    bench_serving.add_argument("--max-length", type=int, default=64)
    bench_serving.add_argument("--world-items", type=int, default=5000)
    bench_serving.add_argument("--world-searches", type=int, default=8000)
    bench_serving.add_argument("--students-cache", type=Path,
                               help="where trained students are kept (default "
                               "<state_dir>/bench-serving-students)")
    bench_serving.add_argument("--server", choices=("process", "thread"), default="process",
                               help="`relstream serve` as a child process, or in a thread")
    bench_serving.add_argument("--out", type=Path, default=Path("docs/results"))
    bench_serving.set_defaults(func=_bench_serving)

"""The demo's last stage: A/B tables, plots and the summary, printed and written to disk."""

from __future__ import annotations

from typing import Any

from relstream.core.settings import CommonSettings
from relstream.tools.demo.children import Layout
from relstream.tools.demo.plan import MODEL_NAME, DemoPlan, DemoResult, say
from relstream.tools.demo.world import World


def report_and_plots(*, layout: Layout, result: DemoResult, settings: CommonSettings,
                     plan: DemoPlan, world: World, traffic: Any = None) -> None:
    """Open the stopped server's chdb path, build both reports, draw the plots, summarise.

    `traffic` is the traffic driver's stats (None when no traffic ran).
    """
    from relstream.tools.demo import plots
    from relstream.tools.demo.final_models import render
    from relstream.tools.demo.report import build_report, open_server_data, write_summary
    from relstream.tools.loadgen.ab_sim import load_grades
    from serving.ab_render import render_text

    server_state = layout.state("server")
    # The server has stopped, so its chdb path is free for this process (which opened none).
    client = open_server_data(settings.model_copy(update={"state_dir": server_state}))
    min_requests = 200 if plan.mode == "full" else 30
    report = build_report(client, plan.experiment, world.labels,
                          world.new_brand_queries, layout.report, min_requests=min_requests,
                          verdict_from=plan.verdict_from)
    say("\n================ A/B report: all queries ================")
    say(render_text(report.all_queries) if report.all_queries else "(no data)")
    say(f"\n================ A/B report: the new brand's queries ({world.new_brand}) "
        "================")
    say(render_text(report.new_brand) if report.new_brand else "(no data)")
    if report.new_brand_late is not None:
        say(f"\n================ A/B report: the new brand's queries, last "
            f"{1 - plan.verdict_from:.0%} of the experiment (the verdict) ================")
        say(render_text(report.new_brand_late))
    if report.other_late is not None:
        say(f"\n================ A/B report: every other query, last "
            f"{1 - plan.verdict_from:.0%} of the experiment ================")
        say(render_text(report.other_late))
    for error in report.errors:
        say(f"!! {error}")
    grades = load_grades(world.labels)
    published = plots.published_times(layout.registry, MODEL_NAME)
    if report.rows:
        result.plots = [
            plots.plot_prequential_auc(report.rows, grades, layout.plots / "prequential_auc.png"),
            plots.plot_ab_ctr(report.rows, layout.plots / "ab_ctr.png"),
            plots.plot_freshness(report.rows, published, layout.plots / "freshness.png"),
        ]
    trainer_points = layout.state("trainer") / "online" / f"{MODEL_NAME}-prequential.jsonl"
    trainer_png = plots.plot_trainer_prequential(trainer_points,
                                                 layout.plots / "trainer_prequential_auc.png")
    if trainer_png is not None:
        result.plots.append(trainer_png)
    for png in sorted(layout.report.glob("ab-report-*.png")):
        target = layout.plots / png.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png.read_bytes())
        result.plots.append(target)
    result.verdict = report.verdict()
    final_models = _final_models(layout, world)
    prelaunch = _final_models(layout, world, which="prelaunch")
    teacher_labels = _teacher_labels(layout, world)
    result.report_dir = layout.report
    summary = write_summary(report, layout.report / "summary.json", {
        "plan": plan.to_json(), "skipped": result.skipped, "stopped": result.stopped,
        "versions_published": sorted(published, key=int),
        "traffic": traffic.__dict__ if traffic else None,
        "new_brand": world.new_brand,
        "final_models_on_new_brand_pairs": final_models,
        "final_models_on_prelaunch_pairs": prelaunch,
        "bootstrap": result.bootstrap,
        "teacher_labels": teacher_labels,
    })
    if teacher_labels is not None:
        say(f"== the teacher labelled {teacher_labels['all']} pairs during the run, "
            f"{teacher_labels['new_brand_queries']} of them of the new brand's queries")
    say(f"\n== {result.verdict}")
    if final_models:
        say("== the models each arm ended with, offline on every ground-truth pair of the new "
            "brand's queries:")
        say(render(final_models))
    if prelaunch:
        say("== the same models on the pre-launch test pairs (the other queries' ground truth):")
        say(render(prelaunch))
    say(f"== versions published: {len(published)}; traffic: "
        f"{traffic.sent if traffic else 0} requests")
    say(f"== report: {summary} (and ab-report-*.json/png in {layout.report})")
    say("== plots: " + ", ".join(str(p) for p in result.plots))
    say(f"== logs: {layout.logs}")


def _final_models(layout: Layout, world: World, which: str = "brand") -> list[dict[str, Any]]:
    """Offline scores of both arms' final models; [] (and a line said) if they cannot be had."""
    from relstream.tools.demo.final_models import arm_versions, score_versions

    ab_config = layout.out / "ab-config.json"
    if not ab_config.exists():
        return []
    try:
        versions = arm_versions(ab_config, layout.registry, MODEL_NAME)
        return score_versions(world.dir, layout.registry, MODEL_NAME, versions, which)
    except Exception as exc:  # an extra view: the A/B report above already stands
        say(f"!! offline scoring of the final models failed: {exc}")
        return []


def _teacher_labels(layout: Layout, world: World) -> dict[str, int] | None:
    """How many pairs the teacher labelled during the run (the bootstrap's are cached
    elsewhere), and how many of them were the new brand's queries' (None: no cache)."""
    from teacher_worker.label_cache import LabelCache

    path = layout.state("teacher") / "teacher" / "label-cache.sqlite"
    if not path.is_file():
        return None
    cache = LabelCache(path)
    try:
        queries = cache.queries()
    finally:
        cache.close()
    brand = set(world.new_brand_queries)
    return {"all": len(queries), "new_brand_queries": sum(q in brand for q in queries)}

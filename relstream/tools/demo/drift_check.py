"""`relstream bench drift`: does the demo's launch hurt a good model trained before it?

Issue 15 asks for a drift that a good version 1 loses on. Whether a world's launch is one
can be measured without the stack or the teacher, in a few minutes per world, so a launch
can be judged before a verdict is run on it. Per world (the demo plan's, generated as the
demo generates it), three rankers order the result lists of the world's own post-launch
searches (10 results each), and NDCG@10 with the verdict's ESCI gains is taken separately
over the new brand's queries and over the other queries:

- **retriever order**, the baseline: what the shop showed;
- **TF-IDF** cosine of the query and the item text (title, category, brand, attributes):
  a lexical reader that has seen no label;
- **oracle version 1**: the demo's student (encoder, layers, max length, epochs and lr
  of the plan's bootstrap, hard loss, one initialisation) trained on the same pre-launch
  pairs as the bootstrap (`prelaunch_shown_pairs`), labelled with the simulator's ground
  truth instead of the teacher. It is an analysis model only (the product's teacher never
  sees ground truth): about the best version 1 those pairs can give, so its loss on the
  brand's lists is the part of the drift that training before the launch cannot cover.

`launch_cost` = the oracle's NDCG on the other queries − on the brand's queries: the same
model where nothing changed against where the launch happened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from relstream.core.metrics import ndcg_at_k, tfidf_scores
from relstream.core.schemas import GRADES, CatalogItem, Grade
from relstream.tools.demo.plan import DemoError, DemoPlan
from relstream.tools.demo.world import World

ResultList = tuple[str, list[str]]
"""(query, item ids as shown)."""


def post_launch_lists(world: World, catalog: dict[str, CatalogItem]) -> list[ResultList]:
    """Every post-launch search of the world's log as (query, shown item ids)."""
    out = []
    with world.post_log.open(encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            if event.get("type") == "search":
                items = [r["item_id"] for r in event.get("results", [])
                         if r["item_id"] in catalog]
                if items:
                    out.append((event["query"], items))
    return out


def lists_ndcg(lists: Sequence[ResultList], labels: dict[tuple[str, str], Grade],
               score: dict[tuple[str, str], float] | None) -> float:
    """Mean NDCG@10 over `lists`, each reordered by `score` (None: as shown). Unlabelled
    pairs count as Irrelevant; lists without any gain are skipped."""
    keys: list[str] = []
    grades: list[Grade] = []
    scores: list[float] = []
    for n, (query, items) in enumerate(lists):
        for rank, item in enumerate(items):
            keys.append(f"{n}")  # one group per search, not per query text
            grades.append(labels.get((query, item), "I"))
            scores.append(score[(query, item)] if score is not None else -rank)
    return ndcg_at_k(keys, grades, scores) if keys else float("nan")


def oracle_scores(world: World, plan: DemoPlan, catalog: dict[str, CatalogItem],
                  labels: dict[tuple[str, str], Grade],
                  pairs: Sequence[tuple[str, str]]) -> tuple[dict[tuple[str, str], float],
                                                              dict[str, Any]]:
    """Train the oracle version 1 and score `pairs` with it; also what training did."""
    import transformers

    from relstream.core.item_text import item_text
    from relstream.tools.demo.bootstrap import prelaunch_shown_pairs, train_initialisation
    from student_trainer.config import DIMENSIONS, IGNORE, LossWeights
    from student_trainer.data import Example, truth_probs
    from student_trainer.encoders import load_tokenizer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    def example(query: str, item_id: str) -> Example:
        dist = truth_probs(labels.get((query, item_id), "I"))
        probs = [dist[g] for g in GRADES]  # in `Example.teacher_probs` order
        return Example(query, item_id, item_text(catalog[item_id]),
                       (probs[0], probs[1], probs[2], probs[3]),
                       (IGNORE,) * len(DIMENSIONS), (), "", "")

    shown = prelaunch_shown_pairs(world, plan.bootstrap_labels)
    train = [example(q, i) for split, q, i in shown if split == "train"]
    validation = [example(q, i) for split, q, i in shown if split == "validation"]
    tokenizer = load_tokenizer()
    started = time.monotonic()
    # the bootstrap's first initialisation, with the hard loss on ground truth
    trained, _ = train_initialisation(plan, plan.seed, tokenizer, train, validation,
                                      LossWeights.preset("hard"))
    examples = [example(q, i) for q, i in pairs]
    model = trained.student
    values = model.scores(model.predict_logits(examples, tokenizer)).tolist()
    facts = {"train_pairs": len(train), "validation_pairs": len(validation),
             "train_s": round(time.monotonic() - started, 1),
             "val_acc": trained.best_metrics.get("val_teacher_acc")}
    return dict(zip(pairs, values, strict=True)), facts


def check_world(plan: DemoPlan, worlds_dir: Path, oracle: bool = True) -> dict[str, Any]:
    """One world's row: NDCG@10 of each ranker on the brand's and the other queries."""
    from relstream.core.shop_files import load_catalog, load_labels
    from relstream.tools.demo.world import make_world

    if oracle and plan.bootstrap_labels < 1:
        raise DemoError(f"the oracle trains on the bootstrap's pairs, and plan {plan.mode!r} "
                        "has bootstrap_labels=0: set some, or run without the oracle")
    world, _ = make_world(plan, worlds_dir / f"world-{plan.seed}")
    catalog = load_catalog(world.dir)
    labels = load_labels(world.dir)
    lists = post_launch_lists(world, catalog)
    brand_queries = set(world.new_brand_queries)
    brand = [x for x in lists if x[0] in brand_queries]
    other = [x for x in lists if x[0] not in brand_queries]
    pairs = sorted({(q, i) for q, items in lists for i in items})
    lexical = dict(zip(pairs, tfidf_scores(pairs, catalog).tolist(), strict=True))
    row: dict[str, Any] = {
        "seed": plan.seed, "new_brand": world.new_brand, "brand_searches": len(brand),
        "brand_queries": len({q for q, _ in brand}), "other_searches": len(other),
        "retriever_brand": lists_ndcg(brand, labels, None),
        "retriever_other": lists_ndcg(other, labels, None),
        "tfidf_brand": lists_ndcg(brand, labels, lexical),
        "tfidf_other": lists_ndcg(other, labels, lexical),
    }
    if oracle:
        scores, facts = oracle_scores(world, plan, catalog, labels, pairs)
        row.update(oracle_brand=lists_ndcg(brand, labels, scores),
                   oracle_other=lists_ndcg(other, labels, scores), **facts)
        row["launch_cost"] = row["oracle_other"] - row["oracle_brand"]
    return row


def run(plan: DemoPlan, seeds: Sequence[int], worlds_dir: Path, oracle: bool = True,
        say: Any = print) -> list[dict[str, Any]]:
    """`check_world` for each seed of `plan`, one line per world as it finishes."""
    rows = []
    for seed in seeds:
        row = check_world(replace(plan, seed=seed), worlds_dir, oracle)
        rows.append(row)
        say(f"world {seed}: brand {row['brand_searches']} searches; retriever "
            f"{row['retriever_brand']:.3f}, TF-IDF {row['tfidf_brand']:.3f}"
            + (f", oracle version 1 {row['oracle_brand']:.3f} (other queries "
               f"{row['oracle_other']:.3f}, launch cost {row['launch_cost']:+.3f})"
               if oracle else ""))
    return rows

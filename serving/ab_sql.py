"""The ClickHouse SQL of `ab-report`: per-request values, then aggregates per arm.

One row per search (request) of an experiment: arm, user, latency, the display positions
clicked, purchases, NDCG@10 against ground truth (when a labels table is given) and the
CUPED covariates (the user's mean of the same metric in a pre-experiment period, or the
pre-period's overall mean for users without history). Feedback is deduplicated by
`event_id` (`FINAL` on the ReplacingMergeTree) and requests by `request_id`: a request
served more than once under one id (a client retry, or a client reusing ids) counts once,
with every field from its last row, and `variants` says how many different (user, query,
items) it came with.
"""

from __future__ import annotations

NORMALIZE = (r"trimBoth(replaceRegexpAll(lowerUTF8({col}), "
             r"'[\\s\\x0B\\x1C-\\x1F\\x85\\pZ]+', ' '))")
"""The SQL twin of `relstream.core.schemas.normalize_query`: Unicode lower-casing (`lower` is
ASCII-only in ClickHouse, so "ÉCRAN" missed the label of "écran"), every run of what
Python's `str.split` calls white space (RE2's ASCII class, plus VT, FS to US, NEL and
the Unicode separators, class Z) folded into one space, then trimmed."""

def per_request_sql(requests: str, feedback: str, experiment_param: str) -> str:
    """Per-request clicks (positions), clicks in the top 10 and purchases."""
    return f"""
        SELECT r.request_id AS request_id, r.arm AS arm, r.user_id AS user_id,
               r.query AS query, r.item_ids AS item_ids, r.positions AS positions,
               r.latency_ms AS latency_ms, r.variants AS variants,
               arrayDistinct(groupArrayIf(r.positions[indexOf(r.item_ids, f.item_id)],
                                          f.action = 'click')) AS click_positions,
               arrayCount(p -> p BETWEEN 1 AND 10, click_positions) AS clicks,
               toFloat64(countIf(f.action = 'purchase')) AS purchases
        FROM (
            -- One coherent row per request_id: `any()` per column could take the query of
            -- one row and the items of another when a client reuses an id.
            SELECT request_id, newest.1 AS arm, newest.2 AS user_id, newest.3 AS query,
                   newest.4 AS item_ids, newest.5 AS positions, newest.6 AS latency_ms,
                   variants
            FROM (
                SELECT request_id,
                       argMax(tuple(arm, user_id, query, item_ids, positions, latency_ms),
                              ts) AS newest,
                       uniqExact(tuple(user_id, query, item_ids)) AS variants
                FROM {requests} WHERE experiment = {{{experiment_param}:String}}
                GROUP BY request_id
            )
        ) AS r
        LEFT JOIN (SELECT request_id, item_id, action FROM {feedback} FINAL) AS f
            ON f.request_id = r.request_id
        GROUP BY r.request_id, r.arm, r.user_id, r.query, r.item_ids, r.positions,
                 r.latency_ms, r.variants
    """


def ndcg_sql(per_request: str, labels: str) -> str:
    """NDCG@10 per request: served positions vs the ideal order of the same items."""
    norm = NORMALIZE.format(col="pr.query")
    return f"""
        SELECT request_id,
               sumIf(gain / log2(pos + 1), pos <= 10) AS dcg,
               arraySlice(arrayReverseSort(groupArray(gain)), 1, 10) AS ideal,
               arraySum(arrayMap((g, i) -> g / log2(i + 1), ideal, arrayEnumerate(ideal)))
                   AS idcg,
               if(idcg > 0, dcg / idcg, NULL) AS ndcg
        FROM (
            SELECT pr.request_id AS request_id, pos, coalesce(l.gain, 0) AS gain
            FROM ({per_request}) AS pr
            ARRAY JOIN pr.item_ids AS item, pr.positions AS pos
            LEFT JOIN {labels} AS l ON l.query = {norm} AND l.item_id = item
            SETTINGS join_use_nulls = 1
        )
        GROUP BY request_id
    """


def report_sql(
    requests: str, feedback: str, labels: str | None, pre_experiment: bool,
    by_arm: bool = True,
) -> str:
    """Aggregates per arm (or pooled over arms) for `ab-report`; parameters: exp, pre."""
    per_request = per_request_sql(requests, feedback, "exp")
    ndcg_join = (f"LEFT JOIN ({ndcg_sql(per_request, labels)}) AS n "
                 f"ON n.request_id = pr.request_id") if labels else ""
    ndcg_col = "n.ndcg" if labels else "CAST(NULL AS Nullable(Float64))"
    if pre_experiment:
        pre = per_request_sql(requests, feedback, "pre")
        covariates = f"""
            LEFT JOIN (SELECT user_id, avg(clicks) AS x_clicks, avg(purchases) AS x_purchases
                       FROM ({pre}) GROUP BY user_id) AS u ON u.user_id = pr.user_id
            CROSS JOIN (SELECT avg(clicks) AS m_clicks, avg(purchases) AS m_purchases,
                               count() AS pre_requests FROM ({pre})) AS g
        """
        # Users without pre-period history get the pre-period mean: no adjustment for them.
        x_clicks = "if(u.user_id = '', g.m_clicks, u.x_clicks)"
        x_purchases = "if(u.user_id = '', g.m_purchases, u.x_purchases)"
        pre_n = "g.pre_requests"
    else:
        covariates, x_clicks, x_purchases, pre_n = "", "0.0", "0.0", "0"
    rows = f"""
        SELECT pr.arm AS arm, pr.user_id AS user_id, pr.latency_ms AS latency_ms,
               pr.click_positions AS click_positions, toFloat64(pr.clicks) AS clicks,
               pr.purchases AS purchases, {ndcg_col} AS ndcg,
               toFloat64({x_clicks}) AS x_clicks, toFloat64({x_purchases}) AS x_purchases,
               {pre_n} AS pre_n, pr.variants AS variants
        FROM ({per_request}) AS pr {ndcg_join} {covariates}
    """
    arm, group = ("arm", "GROUP BY arm ORDER BY arm") if by_arm else ("'all'", "")
    return f"""
        SELECT {arm} AS arm, count() AS requests, uniqExact(user_id) AS users,
               avgForEach(arrayMap(k -> toFloat64(has(click_positions, k)), range(1, 11)))
                   AS ctr_at,
               avg(clicks) AS clicks_mean, varSamp(clicks) AS clicks_var,
               avg(purchases) AS purchases_mean, varSamp(purchases) AS purchases_var,
               avgOrNull(ndcg) AS ndcg_mean, varSampOrNull(ndcg) AS ndcg_var,
               countIf(ndcg IS NOT NULL) AS ndcg_n,
               avg(latency_ms) AS latency_mean, varSamp(latency_ms) AS latency_var,
               quantileExact(0.5)(latency_ms) AS latency_p50,
               quantileExact(0.99)(latency_ms) AS latency_p99,
               avg(x_clicks) AS x_clicks_mean, varSamp(x_clicks) AS x_clicks_var,
               covarSamp(x_clicks, clicks) AS xy_clicks_cov,
               avg(x_purchases) AS x_purchases_mean, varSamp(x_purchases) AS x_purchases_var,
               covarSamp(x_purchases, purchases) AS xy_purchases_cov,
               max(pre_n) AS pre_requests,
               countIf(variants > 1) AS reused_request_ids
        FROM ({rows})
        {group}
    """

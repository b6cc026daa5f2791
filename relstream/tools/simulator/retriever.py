"""A deliberately imperfect lexical retriever: BM25 over titles plus a popularity prior.

It reads titles only (values that live only in `attributes` are invisible to it), knows
only some synonyms, and has a keyword query classifier that boosts one product type.
So result lists mix all four grades with plausible-looking wrong items (complements that
name the product, near-miss models, other brands), much like a first-stage retriever.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from relstream.tools.simulator.catalog import SimItem
from relstream.tools.simulator.surface import tokens
from relstream.tools.simulator.taxonomy import Taxonomy

_STOP = {"for", "with", "and", "of", "the", "a", "size", "sz", "pack", "count", "us"}


class LexicalRetriever:
    """Top-k candidates per query text, computed in sparse batches."""

    def __init__(self, items: Sequence[SimItem], rng: random.Random, taxonomy: Taxonomy,
                 k1: float = 1.2, b: float = 0.75) -> None:
        self.items = list(items)
        types = taxonomy.types
        docs = [tokens(it.title) for it in self.items]
        self.vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for i, doc in enumerate(docs):
            counts: dict[int, int] = {}
            for w in doc:
                j = self.vocab.setdefault(w, len(self.vocab))
                counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                rows.append(i)
                cols.append(j)
                tfs.append(c)
        n, v = len(docs), len(self.vocab)
        lens = np.array([len(d) for d in docs], dtype=np.float64)
        tf = np.array(tfs, dtype=np.float64)
        df = np.bincount(np.array(cols, dtype=np.int64), minlength=v)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        norm = k1 * (1 - b + b * lens[rows] / max(lens.mean(), 1.0))
        weights = idf[cols] * tf * (k1 + 1) / (tf + norm)
        self.matrix = sparse.csr_matrix((weights, (rows, cols)), shape=(n, v)).T.tocsr()
        self.prior = 0.4 * np.log(np.array([it.popularity for it in self.items]))
        type_index = {t.key: k for k, t in enumerate(types)}
        self.item_type = np.array([type_index[it.ptype] for it in self.items])
        # the classifier knows the title words of each type and only the first synonym
        self.type_words: dict[str, set[int]] = {}
        for k, t in enumerate(types):
            for phrase in t.title_nouns + t.query_nouns + t.synonyms[:1]:
                for w in tokens(phrase):
                    if w not in _STOP:
                        self.type_words.setdefault(w, set()).add(k)
        self.by_type_popular: dict[int, np.ndarray] = {}
        for k in range(len(types)):
            members = np.flatnonzero(self.item_type == k)
            self.by_type_popular[k] = members[np.argsort(-self.prior[members], kind="stable")][:60]
        # cross-sell: the popular items of each type's complements, shown a little lower
        self.cross_sell: dict[int, np.ndarray] = {}
        for k, t in enumerate(types):
            others = [type_index[c] for c in t.complements]
            pool = np.concatenate([self.by_type_popular[o][:8] for o in others]) if others else (
                np.zeros(0, dtype=np.int64))
            self.cross_sell[k] = pool
        self.rng = rng

    def _classify(self, words: list[str]) -> int | None:
        votes: dict[int, int] = {}
        for w in words:
            for k in self.type_words.get(w, ()):
                votes[k] = votes.get(k, 0) + 1
        if not votes:
            return None
        best = max(votes.values())
        return self.rng.choice(sorted(k for k, c in votes.items() if c == best))

    def retrieve(self, queries: Sequence[str], k: int, active: np.ndarray | None = None,
                 batch: int = 512) -> list[list[int]]:
        """For each query, up to `k` item indices, best first (ties broken by the prior)."""
        out: list[list[int]] = []
        for start in range(0, len(queries), batch):
            chunk = queries[start:start + batch]
            rows, cols = [], []
            words_per_q = []
            for r, q in enumerate(chunk):
                words = [w for w in dict.fromkeys(tokens(q)) if w not in _STOP]
                words_per_q.append(words)
                for w in words:
                    j = self.vocab.get(w)
                    if j is not None:
                        rows.append(r)
                        cols.append(j)
            qm = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                                   shape=(len(chunk), self.matrix.shape[0]))
            scores = (qm @ self.matrix).tocsr()
            for r in range(len(chunk)):
                lo, hi = scores.indptr[r], scores.indptr[r + 1]
                idx = scores.indices[lo:hi]
                val = scores.data[lo:hi] + self.prior[idx]
                guess = self._classify(words_per_q[r])
                if guess is not None:
                    val = val + 1.5 * (self.item_type[idx] == guess)
                    extra = self.by_type_popular[guess]
                    idx = np.concatenate([idx, extra])
                    val = np.concatenate([val, 1.5 + self.prior[extra] - 2.0])
                    cross = self.cross_sell[guess]
                else:
                    cross = np.zeros(0, dtype=np.int64)
                if active is not None:
                    keep = active[idx]
                    idx, val = idx[keep], val[keep]
                idx, first = np.unique(idx, return_index=True)
                val = val[first]
                if len(val) > k:
                    part = np.argpartition(-val, k - 1)[:k]
                    top = part[np.argsort(-val[part], kind="stable")]
                else:
                    top = np.argsort(-val, kind="stable")
                ranked = [int(i) for i in idx[top]]
                # "customers also bought": two complement-type items slotted mid-list, as
                # marketplaces do; whether they fit the wanted device is not checked
                picks = [int(c) for c in cross if int(c) not in ranked]
                for slot in (3, 7):
                    if picks and len(ranked) > slot:
                        pick = picks.pop(self.rng.randrange(len(picks)))
                        if active is None or active[pick]:
                            ranked.insert(slot, pick)
                out.append(ranked[:k])
        return out

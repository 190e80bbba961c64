"""Split/merge repair of a k-means local optimum on an in-memory sample.

Lloyd passes can never move a center across the data: when seeding leaves one center on two
natural groups and two centers inside one group, Lloyd converges there.  One repair round
(after Lloyd has converged on the sample):

1. one top-2 assignment pass gives, for each center ``j``, the exact cost of deleting it with
   the others fixed: ``remove_j = sum of w * (second-best - best distance)`` over its rows;
2. for the centers with the largest SSE, the gain of splitting their cluster in two along its
   principal axis (a few power iterations, then a 2-way split and one 2-means update);
3. pair the largest split gains with the smallest removal costs while ``gain > cost``: the
   removed center and the split center take the two halves' means;
4. Lloyd passes on the sample; the round is kept only if the sample inertia drops, otherwise
   retried with the single best move, and the repair stops.
"""

from __future__ import annotations

import numpy as np

from archetype.cluster.data import ArrayDataset
from archetype.cluster.lloyd import lloyd_phase


def refine_sample_size(n: int, k: int) -> int:
    """Rows of the in-memory sample used for Lloyd + repair before the full-data passes."""
    return int(min(n, max(32_768, 128 * k)))


def _split(x: np.ndarray, w: np.ndarray, rng: np.random.Generator) -> tuple[float, np.ndarray,
                                                                             np.ndarray]:
    """Best 2-way split of the rows ``x`` along their principal axis.

    The principal axis by power iteration on the (d, d) weighted scatter matrix (one GEMM
    over the rows), then two 2-means updates; the gain is the between-halves sum of squares
    ``W1 |c1 - mu|^2 + W2 |c2 - mu|^2`` (= SSE before - SSE after, Huygens).

    Returns
    -------
    gain : float — SSE of the cluster minus the SSE of the two halves.
    c1, c2 : (d,) float64 — means of the two halves.
    """
    x = x.astype(np.float64)
    mu = (w @ x) / w.sum()
    xc = x - mu
    S = xc.T @ (w[:, None] * xc)
    v = rng.standard_normal(x.shape[1])
    for _ in range(8):  # power iterations on the weighted scatter matrix
        v = S @ v
        nv = np.linalg.norm(v)
        if nv == 0:
            return 0.0, mu, mu
        v /= nv
    side = (xc @ v) > 0
    for it in range(3):  # two 2-means updates starting from the principal-axis halves
        if side.all() or not side.any():
            return 0.0, mu, mu
        w1, w2 = w[side].sum(), w[~side].sum()
        c1, c2 = (w[side] @ xc[side]) / w1, (w[~side] @ xc[~side]) / w2  # centered means
        if it < 2:
            side = 2 * (xc @ (c2 - c1)) < c2 @ c2 - c1 @ c1  # nearer to c1
    gain = float(w1 * (c1 @ c1) + w2 * (c2 @ c2))
    return gain, c1 + mu, c2 + mu


def _moves(sds: ArrayDataset, C: np.ndarray, rng: np.random.Generator,
           max_moves: int) -> list[tuple[float, int, int, np.ndarray, np.ndarray]]:
    """Moves (net gain, split center h, removed center j, new c_h, new c_j), best first."""
    x = sds.X
    w = np.ones(len(x)) if sds.w is None else sds.w.astype(np.float64)
    k = len(C)
    a = sds.assign(C)  # metric distances and margins (top-2)
    labels, dist, margin = a.labels, a.distances.astype(np.float64), a.margin
    sse = np.bincount(labels, weights=w * dist, minlength=k)
    cnt = np.bincount(labels, weights=w, minlength=k)
    remove = np.bincount(labels, weights=w * np.minimum(margin, 1e30), minlength=k)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(k + 1))
    n_cand = int(min(k, max(8, 2 * max_moves)))
    cands = [int(j) for j in np.argsort(-sse)[:n_cand] if cnt[j] > 0]
    splits = []
    for h in cands:
        rows = order[starts[h] : starts[h + 1]]
        if len(rows) < 2:
            continue
        gain, c1, c2 = _split(x[rows], w[rows], rng)
        gain *= sds.metric.scale  # squared L2 -> this metric's distance
        if gain > 0:
            splits.append((gain, h, c1, c2))
    splits.sort(key=lambda s: -s[0])
    cheap = list(np.argsort(remove, kind="stable"))
    used: set[int] = set()
    out = []
    for gain, h, c1, c2 in splits:
        if len(out) >= max_moves or h in used:
            continue
        j = next((int(j) for j in cheap if int(j) not in used and int(j) != h), None)
        if j is None or gain <= remove[j]:
            break
        used.update((h, j))
        out.append((gain - float(remove[j]), h, j, c1, c2))
    return out


def repair(sds: ArrayDataset, C: np.ndarray, inertia: float, rng: np.random.Generator, *,
           max_rounds: int = 8, max_iter: int = 30, tol: float = 1e-4, history: list,
           t0: float | None = None) -> tuple[np.ndarray, float, int]:
    """Split/merge repair rounds on the sample ``sds`` (see module docstring).

    Parameters
    ----------
    sds : ArrayDataset — the in-memory sample (clean rows).
    C : (k, d) float32 — Lloyd-converged centers on ``sds``; ``inertia`` their sample inertia.
    max_rounds : int — repair rounds at most.  max_iter, tol : Lloyd passes after each move.

    Returns
    -------
    centers (k, d) float32, sample inertia, number of moves kept
    """
    k = len(C)
    if k < 3:
        return C, inertia, 0
    kept = 0
    max_moves = max(1, k // 16)
    for r in range(max_rounds):
        moves = _moves(sds, C, rng, max_moves)
        if not moves:
            break
        improved = False
        for batch in (moves, moves[:1]) if len(moves) > 1 else (moves,):
            Ct = C.astype(np.float64)
            for _g, h, j, c1, c2 in batch:
                Ct[h], Ct[j] = c1, c2
            trial: list = []
            Cn, st, _np = lloyd_phase(sds, sds.metric.renorm(Ct).astype(np.float32),
                                      max_iter=max_iter, tol=tol, history=trial,
                                      phase="repair", t0=t0)
            ine = st.inertia
            history.extend(trial)
            if ine < inertia * (1 - 1e-6):
                history.append({"phase": "repair", "step": r, "moves": len(batch),
                                "inertia": ine, "seconds": 0.0})
                C, inertia, kept, improved = Cn, ine, kept + len(batch), True
                break
        if not improved:
            break
    return C, inertia, kept

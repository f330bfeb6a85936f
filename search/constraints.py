"""Cost tables and budgets: parsing, exact evaluation, minima, feasibility search and repair.

Costs are additive over decisions, ``cost_m(arch) = base_m + sum_j U_m[j, a_j] + sum_{i<j} P_m[i, j, a_i, a_j]``.
Internally every (decision, choice) is a one-hot variable; ``unary`` is ``(M, D)`` and ``pair`` is a
symmetric ``(M, D, D)`` array (or ``None`` when no pairwise terms were given).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .errors import InfeasibleBudgetError
from .space import Space

RawCostTables = Mapping[str, Mapping[tuple, float]]


@dataclass(frozen=True)
class MetricMinimum:
    """Smallest achievable value of one metric over the whole space."""

    metric: str
    value: float
    exact: bool

    def __str__(self) -> str:
        return f"{self.metric} {'=' if self.exact else '>='} {self.value:.6g}"


def _finite(value: object, what: str) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(v):
        raise ValueError(f"{what} is {v} (NaN/inf not allowed)")
    return v


class CostTables:
    """Parsed cost tables + budgets over a :class:`Space`, with exact feasibility checks."""

    def __init__(self, space: Space, costs: RawCostTables, budgets: Mapping[str, float] | None = None,
                 base_costs: Mapping[str, float] | None = None) -> None:
        self.space = space
        costs = dict(costs or {})
        budgets = dict(budgets or {})
        base_costs = dict(base_costs or {})
        for m in budgets:
            if m not in costs:
                raise ValueError(f"budget given for metric {m!r} but there is no cost table for it")
        for m in base_costs:
            if m not in costs:
                raise ValueError(f"base cost given for metric {m!r} but there is no cost table for it")
        self.metrics: tuple[str, ...] = tuple(costs)
        M, D = len(self.metrics), space.n_vars
        self.unary = np.zeros((M, D))
        pair = np.zeros((M, D, D))
        has_pair = False
        self.budget = np.full(M, np.inf)
        self.base = np.zeros(M)
        for mi, m in enumerate(self.metrics):
            if not isinstance(m, str):
                raise ValueError(f"metric names must be strings, got {m!r}")
            if m in budgets:
                self.budget[mi] = _finite(budgets[m], f"budget for {m!r}")
            if m in base_costs:
                self.base[mi] = _finite(base_costs[m], f"base cost for {m!r}")
            has_pair |= self._fill(mi, m, costs[m], pair, budgeted=m in budgets)
        self.pair = pair if has_pair else None
        self.budgeted = np.isfinite(self.budget)
        rng_sum = np.zeros(M)
        for j in range(len(space)):
            sl = self._slice(j)
            rng_sum += self.unary[:, sl].max(1) - self.unary[:, sl].min(1)
        #: per-metric normalisation of budget violations
        self.scale = np.maximum(np.where(self.budgeted, np.abs(self.budget), 0.0), rng_sum)
        self.scale = np.where(self.scale > 0, self.scale, 1.0)
        self._tol = 1e-9 * np.maximum(1.0, np.abs(np.where(self.budgeted, self.budget, 0.0)))
        self._build_dfs_tables()

    def _fill(self, mi: int, m: str, table: object, pair: np.ndarray, budgeted: bool) -> bool:
        """Add metric `m`'s table to the unary / pair arrays; True when it has pairwise terms."""
        if not isinstance(table, Mapping):
            raise ValueError(f"cost table for {m!r} must be a dict {{(decision, choice): value}}")
        seen = np.zeros(self.space.n_vars, dtype=bool)
        has_pair = False
        for key, value in table.items():
            kind, vars_ = self._parse_key(key, m)
            v = _finite(value, f"cost {m!r}[{key!r}]")
            if kind == "unary":
                self.unary[mi, vars_[0]] += v
                seen[vars_[0]] = True
            else:
                a, b = vars_
                pair[mi, a, b] += v
                pair[mi, b, a] += v
                has_pair = True
        if budgeted and not seen.all():
            v = int(np.flatnonzero(~seen)[0])
            j = int(self.space.var_decision[v])
            c = self.space.decisions[j].choices[v - self.space.offsets[j]]
            raise ValueError(
                f"cost table for budgeted metric {m!r} has no entry for choice {c!r} of decision "
                f"{self.space.names[j]!r}"
            )
        return has_pair

    # ------------------------------------------------------------------ parsing
    def _slice(self, j: int) -> slice:
        o = int(self.space.offsets[j])
        return slice(o, o + int(self.space.sizes[j]))

    def _var(self, key: object, metric: str) -> int | None:
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str) and key[0] in self.space.position:
            try:
                i, k = self.space.choice_index(key[0], key[1])
            except ValueError as exc:
                raise ValueError(f"cost table {metric!r}: {exc}") from None
            return int(self.space.offsets[i] + k)
        return None

    def _parse_key(self, key: object, metric: str) -> tuple[str, tuple[int, ...]]:
        v = self._var(key, metric)
        if v is not None:
            return "unary", (v,)
        if (
            isinstance(key, tuple)
            and len(key) == 2
            and all(isinstance(k, tuple) and len(k) == 2 for k in key)
        ):
            a, b = self._var(key[0], metric), self._var(key[1], metric)
            if a is not None and b is not None:
                if self.space.var_decision[a] == self.space.var_decision[b]:
                    raise ValueError(
                        f"cost table {metric!r}: pairwise term {key!r} links two choices of the same decision"
                    )
                return "pair", (a, b)
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str):
            raise ValueError(f"cost table {metric!r}: unknown decision {key[0]!r} in key {key!r}")
        raise ValueError(
            f"cost table {metric!r}: key {key!r} is neither (decision, choice) nor "
            "((decision, choice), (decision, choice))"
        )

    # --------------------------------------------------------------- evaluation
    def evaluate(self, idx: np.ndarray | Iterable) -> np.ndarray:
        """Exact metric values, ``(M,)`` for one architecture or ``(N, M)`` for rows of them."""
        arr = np.asarray(idx, dtype=np.int64)
        single = arr.ndim == 1
        rows = np.atleast_2d(arr)
        act = rows + self.space.offsets  # (N, J)
        out = self.base[None, :] + self.unary[:, act].sum(-1).T
        if self.pair is not None:
            pv = self.pair[:, act[:, :, None], act[:, None, :]]  # (M, N, J, J)
            out = out + 0.5 * pv.sum((-1, -2)).T
        return out[0] if single else out

    def feasible(self, idx: np.ndarray | Iterable) -> np.ndarray | bool:
        """Whether each architecture meets every budget (exact, under the cost tables)."""
        c = self.evaluate(idx)
        ok = (c <= self.budget + self._tol) | ~self.budgeted
        return bool(ok.all()) if c.ndim == 1 else ok.all(-1)

    def violation(self, cost: np.ndarray) -> np.ndarray:
        """Normalised total budget excess (0 when feasible)."""
        ex = np.maximum(0.0, (cost - self.budget - self._tol) / self.scale)
        ex = np.where(self.budgeted, ex, 0.0)
        return ex.sum(-1)

    def gains(self, active: np.ndarray) -> np.ndarray:
        """``(M, D)``: metric contribution of each variable given the other active variables.

        Switching decision j from its active variable u to v changes the costs by ``G[:, v] - G[:, u]``.
        """
        G = self.unary.copy()
        if self.pair is not None:
            G += self.pair[:, :, active].sum(-1)
        return G

    # ------------------------------------------------------------------ minima
    def minima(self) -> list[MetricMinimum]:
        """Exact minimum of every metric over the space (lower bound if the pairwise graph is too dense)."""
        out = []
        J = len(self.space)
        for mi, m in enumerate(self.metrics):
            factors: list[tuple[tuple[int, ...], np.ndarray]] = [
                ((j,), self.unary[mi, self._slice(j)].copy()) for j in range(J)
            ]
            for (i, j), P in self._pairs(mi):
                factors.append(((i, j), P))
            val = _min_sum(self.space.sizes, factors)
            if val is None:
                lb = sum(float(f.min()) for _, f in factors)
                out.append(MetricMinimum(m, lb + float(self.base[mi]), False))
            else:
                out.append(MetricMinimum(m, val + float(self.base[mi]), True))
        return out

    def _pairs(self, mi: int) -> list[tuple[tuple[int, int], np.ndarray]]:
        if self.pair is None:
            return []
        res = []
        J = len(self.space)
        for i in range(J):
            for j in range(i + 1, J):
                P = self.pair[mi, self._slice(i), self._slice(j)]
                if np.any(P != 0):
                    res.append(((i, j), P.copy()))
        return res

    def check_budgets(self, node_limit: int = 200_000) -> None:
        """Raise :class:`InfeasibleBudgetError` if no architecture meets every budget."""
        mins = self.minima()
        budgets = {m: float(self.budget[i]) for i, m in enumerate(self.metrics) if self.budgeted[i]}
        bad = [mn for mi, mn in enumerate(mins) if self.budgeted[mi] and mn.value > self.budget[mi] + self._tol[mi]]
        detail = "; ".join(
            f"{mn} (budget {self.budget[mi]:.6g})" if self.budgeted[mi] else str(mn) for mi, mn in enumerate(mins)
        )
        if bad:
            raise InfeasibleBudgetError(
                f"no architecture meets the budgets: {', '.join(b.metric for b in bad)} cannot go below "
                f"the budget. Minimum achievable: {detail}",
                minima=mins, violated=[b.metric for b in bad], budgets=budgets,
            )
        found, exhausted = self.search_feasible(mode="cheap", node_limit=node_limit)
        if not found:
            how = "proved by exhaustive search" if exhausted else f"none found in {node_limit} search nodes"
            raise InfeasibleBudgetError(
                f"no architecture meets all budgets at once ({how}), although each budget alone can be met. "
                f"Minimum achievable per metric: {detail}",
                minima=mins, budgets=budgets, exhaustive=exhausted,
            )

    # -------------------------------------------------------- feasibility search
    def _build_dfs_tables(self) -> None:
        J = len(self.space)
        self._U = [self.unary[:, self._slice(j)] for j in range(J)]
        self._prev: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(J)]
        if self.pair is not None:
            for i in range(J):
                for j in range(i + 1, J):
                    P = self.pair[:, self._slice(i), self._slice(j)]
                    if np.any(P != 0):
                        self._prev[j].append((i, P))
        lb = np.zeros((J + 1, len(self.metrics)))
        for j in range(J - 1, -1, -1):
            t = self._U[j].copy()
            for _, P in self._prev[j]:
                t = t + P.min(1)
            lb[j] = lb[j + 1] + t.min(1)
        self._suffix_lb = lb
        self._cap = np.where(self.budgeted, self.budget + self._tol, np.inf)

    def search_feasible(
        self,
        mode: str = "cheap",
        rng: np.random.Generator | None = None,
        pref: np.ndarray | None = None,
        exclude: set | frozenset = frozenset(),
        want: int = 1,
        node_limit: int = 50_000,
    ) -> tuple[list[tuple[int, ...]], bool]:
        """Depth-first branch-and-bound for up to ``want`` feasible architectures not in ``exclude``.

        ``mode``: ``"cheap"`` tries low-cost choices first, ``"random"`` a random order (needs ``rng``),
        ``"pref"`` the order of the per-variable preference vector ``pref`` (higher first).
        Returns (architectures, exhausted) where ``exhausted`` means the whole space was covered.
        """
        J = len(self.space)
        found: list[tuple[int, ...]] = []
        assign = [0] * J
        nodes = 0
        limit_hit = False

        def order(j: int, incr: np.ndarray) -> np.ndarray:
            if mode == "pref" and pref is not None:
                key = -pref[self._slice(j)]
                if rng is not None:
                    key = key + 1e-9 * rng.random(key.shape)
                return np.argsort(key, kind="stable")
            if mode == "random" and rng is not None:
                return rng.permutation(incr.shape[1])
            norm = np.where(self.budgeted[:, None], incr / self.scale[:, None], 0.0).sum(0)
            return np.argsort(norm, kind="stable")

        def dfs(j: int, partial: np.ndarray) -> bool:
            nonlocal nodes, limit_hit
            if j == J:
                t = tuple(assign)
                if t not in exclude:
                    found.append(t)
                return len(found) >= want
            incr = self._U[j].copy()
            for i, P in self._prev[j]:
                incr += P[:, assign[i], :]
            tot = partial[:, None] + incr
            ok = np.all(tot + self._suffix_lb[j + 1][:, None] <= self._cap[:, None], axis=0)
            for c in order(j, incr):
                if not ok[c]:
                    continue
                nodes += 1
                if nodes > node_limit:
                    limit_hit = True
                    return True
                assign[j] = int(c)
                if dfs(j + 1, tot[:, c]):
                    return True
            return False

        dfs(0, self.base.copy())
        exhausted = not limit_hit and len(found) < want
        return found, exhausted

    def repair(
        self,
        idx: tuple[int, ...] | np.ndarray,
        acq: np.ndarray | None = None,
        acq_pair: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
        max_steps: int | None = None,
    ) -> tuple[int, ...] | None:
        """Greedy repair to feasibility: change one decision at a time, trading violation for objective.

        ``acq`` (D,) and optional symmetric ``acq_pair`` (D, D) define an objective to keep high.
        Returns the repaired architecture, or None if the greedy walk got stuck.
        """
        sp = self.space
        cur = np.array(idx, dtype=np.int64)
        steps = max_steps if max_steps is not None else 4 * len(sp) + 4
        for _ in range(steps + 1):
            act = sp.offsets + cur
            cost = self.evaluate(cur)
            viol = float(self.violation(cost))
            if viol <= 0:
                return tuple(int(c) for c in cur)
            G = self.gains(act)
            curvar = act[sp.var_decision]
            new_cost = cost[:, None] + G - G[:, curvar]
            red = viol - self.violation(new_cost.T)
            if acq is not None:
                g = acq.copy()
                if acq_pair is not None:
                    g += acq_pair[:, act].sum(1)
                loss = np.maximum(0.0, g[curvar] - g)
                tau = 0.05 * (np.abs(g).max() + 1e-12)
                score = red / (loss + tau)
            else:
                score = red.copy()
            if rng is not None:
                score = score * (1.0 + 1e-6 * rng.random(score.shape))
            score[red <= 1e-12] = -np.inf
            v = int(np.argmax(score))
            if not np.isfinite(score[v]):
                return None
            j = int(sp.var_decision[v])
            cur[j] = v - sp.offsets[j]
        return None


def _min_sum(
    sizes: np.ndarray, factors: list[tuple[tuple[int, ...], np.ndarray]], limit: int = 2_000_000
) -> float | None:
    """Exact min over all assignments of a sum of factors (bucket elimination); None if too wide."""
    const = 0.0
    live = [(s, f) for s, f in factors]
    vars_left = {v for s, _ in live for v in s}
    while vars_left:
        best_v, best_size, best_scope = None, None, None
        for v in vars_left:
            scope = sorted({u for s, _ in live if v in s for u in s})
            size = int(np.prod([sizes[u] for u in scope]))
            if best_size is None or size < best_size:
                best_v, best_size, best_scope = v, size, scope
        if best_size > limit:
            return None
        assert best_scope is not None
        combined = np.zeros([int(sizes[u]) for u in best_scope])
        rest = []
        for s, f in live:
            if best_v in s:
                shape = [int(sizes[u]) if u in s else 1 for u in best_scope]
                combined = combined + f.reshape(shape)
            else:
                rest.append((s, f))
        new = combined.min(axis=best_scope.index(best_v))
        new_scope = tuple(u for u in best_scope if u != best_v)
        if new_scope:
            rest.append((new_scope, new))
        else:
            const += float(new)
        live = rest
        vars_left.discard(best_v)
    return const + sum(float(f) for s, f in live if not s)

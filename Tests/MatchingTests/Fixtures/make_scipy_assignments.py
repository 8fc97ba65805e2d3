"""Makes scipy_assignments.json: cost matrices with scipy.optimize.linear_sum_assignment's
answers (total cost, rows, cols), for MatchingTests/LinearAssignmentTests.swift. Covers ties,
rectangular matrices both ways, forbidden (+inf) entries, large magnitudes, an infeasible
matrix, and larger matrices with ties spanning several of the solver's 8-column chunks.

Run once:  python3 make_scipy_assignments.py   (numpy, scipy)
"""
import json
import os

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment

rng = np.random.default_rng(7)
cases = []


def add(name, cost):
    entry = {"name": name, "cost": [[("inf" if np.isinf(v) else float(v)) for v in row] for row in cost]}
    try:
        r, c = linear_sum_assignment(cost)
        entry.update(total_cost=float(cost[r, c].sum()), rows=r.tolist(), cols=c.tolist())
    except ValueError as e:
        entry.update(error=str(e))
    cases.append(entry)


add("square_random", rng.uniform(0, 1, (6, 6)))
add("ties_integers", rng.integers(0, 3, (7, 7)).astype(float))
add("all_equal", np.ones((5, 5)))
add("wide", rng.uniform(-5, 5, (4, 9)))
add("tall", rng.uniform(-5, 5, (9, 4)))
add("wide_ties", rng.integers(0, 2, (3, 8)).astype(float))
add("tall_ties", rng.integers(0, 2, (8, 3)).astype(float))
big = rng.uniform(0, 1, (6, 6)) * 1e9
big[0, 0] = -1e12
add("large_magnitudes", big)
inf = rng.uniform(0, 10, (6, 8))
inf[rng.uniform(size=inf.shape) < 0.4] = np.inf
inf[np.arange(6), np.arange(6)] = rng.uniform(0, 10, 6)   # keep it feasible
add("forbidden_entries", inf)
infeasible = np.full((3, 3), np.inf)
infeasible[0, 0] = 1
add("infeasible", infeasible)
add("one_by_one", np.array([[3.5]]))
add("matcher_like_50x8", rng.uniform(-2, 10, (50, 8)))
add("single_row", rng.uniform(0, 1, (1, 5)))
# Larger ones, for the solver's 8-column chunks: ties across chunks, both shapes, forbidden pairs.
add("ties_integers_20x37", rng.integers(0, 3, (20, 37)).astype(float))
tall = rng.integers(0, 4, (30, 11)).astype(float)
tall[rng.uniform(size=tall.shape) < 0.2] = np.inf
tall[np.arange(11), np.arange(11)] = 1.0   # keep it feasible
add("tall_ties_forbidden_30x11", tall)
add("random_40x40", rng.uniform(0, 1, (40, 40)))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scipy_assignments.json")
with open(out, "w") as f:
    json.dump({"scipy_version": scipy.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {out}")

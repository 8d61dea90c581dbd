"""Benchmark of the pulling-away term: ebkit's implementation against a naive double loop
and against the vectorised limit (the fewest tensor operations that compute eq. 14).

Prints, for several batch sizes, the time per call (forward + backward) of each and the
ratio limit/ebkit (1.0 means ebkit costs no more than the bare vectorised formula; the
target is >= 0.95; ebkit's written-out gradient makes it faster than the limit). All
three are checked to agree before anything is timed.

    python benchmarks/pt.py [--features 1024] [--batches 16,64,256] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from ebkit_pt.pulling_away import pulling_away_term


def naive_double_loop(features: Tensor) -> Tensor:
    """Eq. 14 written as the paper's double sum, one pair at a time."""
    n = features.shape[0]
    total = features.new_zeros(())
    for i in range(n):
        for j in range(n):
            if i != j:
                cosine = features[i] @ features[j] / (features[i].norm() * features[j].norm())
                total = total + cosine**2
    return total / (n * (n - 1))


def vectorised_limit(features: Tensor) -> Tensor:
    """The bare vectorised formula with no guards: normalise, Gram, square, drop the
    diagonal (whose squared cosines are exactly 1), average."""
    n = features.shape[0]
    unit = features / features.norm(dim=1, keepdim=True)
    return ((unit @ unit.T).square().sum() - n) / (n * (n - 1))


def seconds_per_call(function: Callable[[Tensor], Tensor], features: Tensor, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        leaf = features.detach().requires_grad_(True)
        function(leaf).backward()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=1024, help="feature size F")
    parser.add_argument("--batches", default="16,64,256", help="batch sizes N")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--naive-max", type=int, default=64, help="largest N for the loop")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, F = {args.features}")
    print(f"{'N':>5} {'naive ms':>10} {'limit ms':>10} {'ebkit ms':>10} {'limit/ebkit':>12}")
    worst = float("inf")
    for n in (int(part) for part in args.batches.split(",")):
        features = torch.randn(n, args.features, generator=generator)
        reference = vectorised_limit(features)
        torch.testing.assert_close(pulling_away_term(features), reference)
        if n <= args.naive_max:
            torch.testing.assert_close(naive_double_loop(features), reference)
        calls = max(10, 20000 // n)
        for function in (vectorised_limit, pulling_away_term):
            seconds_per_call(function, features, calls)  # warm-up
        limit_times, ebkit_times = [], []
        for _ in range(args.repeats):
            limit_times.append(seconds_per_call(vectorised_limit, features, calls))
            ebkit_times.append(seconds_per_call(pulling_away_term, features, calls))
        limit, ours = statistics.median(limit_times), statistics.median(ebkit_times)
        naive = (
            f"{seconds_per_call(naive_double_loop, features, 2) * 1e3:10.2f}"
            if n <= args.naive_max
            else f"{'-':>10}"
        )
        ratio = limit / ours
        worst = min(worst, ratio)
        print(f"{n:>5} {naive} {limit * 1e3:10.3f} {ours * 1e3:10.3f} {ratio:12.3f}")
    print(f"worst limit/ebkit ratio: {worst:.3f}; >= 0.95: {'yes' if worst >= 0.95 else 'no'}")


if __name__ == "__main__":
    main()

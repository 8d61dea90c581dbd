"""Data-parallel scaling on the CPU: the throughput of 1 and N ranks (gloo, one thread
per rank) training the MNIST conv EBGAN, and the scaling efficiency

    efficiency(N) = throughput(N ranks) / (N × throughput(1 rank))

with the same batch per rank (weak scaling: N ranks train on N times the examples per
step). Each measurement starts fresh processes, builds the run the way ``ebkit train``
does (``resolve_config`` → ``build_trainer`` → ``make_data_parallel`` under the
environment torchrun would set) and times ``--steps`` steps after ``--warmup`` ones,
each step followed by the callbacks that keep the ranks in agreement (BatchNorm
statistics, the stop flag). Rounds interleave 1 and N ranks; the medians are reported,
with the load average, since a shared machine slows both.

    python benchmarks/scaling.py --data-path ../shared/data/mnist
    python benchmarks/scaling.py --data-path DIR --ranks 2 4 --rounds 5 --batch-size 64

Prints a table and a verdict line (target: efficiency ≥ 0.85 at 2 ranks); exits 0
whatever the verdict, 2 when it cannot run (a bad option, no MNIST files).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.85


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _worker(rank: int, world: int, port: int, options: dict, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    import torch

    torch.set_num_threads(1)
    from ebkit.plugin.manager import get_plugin_manager
    from ebkit.runs.callbacks import InterruptAtStepEnd
    from ebkit.runs.config import resolve_config
    from ebkit.runs.distributed import join_ranks, make_data_parallel
    from ebkit.runs.rank_agreement import AgreedInterrupt, AverageNormStatistics
    from ebkit.runs.training import build_trainer

    names = {"energy": "autoencoder", "sampler": "generator", "loss": "margin", "data": "mnist"}
    config = resolve_config(
        get_plugin_manager(),
        names=names,
        regularizers=(),
        data_path=options["data_path"],
        toml=None,
        train={"steps": 10**6, "batch_size": options["batch_size"], "device": "cpu"},
        overrides=("energy.arch=conv", "sampler.arch=conv"),
        loggers=(),
    )
    parallel = join_ranks("cpu")
    trainer = build_trainer(config, get_plugin_manager())
    callbacks: list = [InterruptAtStepEnd()]
    if parallel is not None:
        make_data_parallel(trainer, parallel)
        callbacks = [AverageNormStatistics(parallel), AgreedInterrupt(parallel)]
    trainer.set_mode(training=True)

    def steps(count: int) -> None:
        for _ in range(count):
            metrics = trainer.train_step()
            for callback in callbacks:
                callback.on_step_end(trainer, metrics)

    steps(options["warmup"])
    if parallel is not None:
        parallel.barrier()
    start = time.perf_counter()
    steps(options["steps"])
    if parallel is not None:
        parallel.barrier()
    elapsed = time.perf_counter() - start
    if rank == 0:
        Path(out).write_text(json.dumps({"elapsed": elapsed}))
    if parallel is not None:
        import torch.distributed as dist

        dist.destroy_process_group()


def measure(world: int, options: dict) -> float:
    """Examples per second (global) of ``world`` ranks."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "result.json")
        mp.spawn(_worker, args=(world, _free_port(), options, out), nprocs=world, join=True)
        elapsed = json.loads(Path(out).read_text())["elapsed"]
    return options["steps"] * options["batch_size"] * world / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-path", required=True, help="folder of the MNIST IDX files")
    parser.add_argument("--ranks", type=int, nargs="+", default=[2], help="N to compare with 1")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per rank and step")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args(argv)
    if min(args.ranks) < 2 or min(args.batch_size, args.steps, args.rounds) < 1:
        print("error: --ranks must be >= 2; --batch-size, --steps, --rounds >= 1", file=sys.stderr)
        return 2
    if not Path(args.data_path).is_dir():
        print(f"error: --data-path {args.data_path} is not a folder", file=sys.stderr)
        return 2
    options = {
        "data_path": args.data_path,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
    }
    worlds = [1, *args.ranks]
    results: dict[int, list[float]] = {world: [] for world in worlds}
    loads = [os.getloadavg()[0]]
    for round_index in range(args.rounds):
        for world in worlds:
            results[world].append(measure(world, options))
            loads.append(os.getloadavg()[0])
        done = ", ".join(f"{w} ranks {results[w][-1]:.1f}/s" for w in worlds)
        print(f"round {round_index + 1}/{args.rounds}: {done}", flush=True)
    base = statistics.median(results[1])
    print(
        f"\nMNIST conv EBGAN, CPU, gloo, 1 thread per rank, batch {args.batch_size} per rank, "
        f"{args.steps} steps x {args.rounds} rounds; load average {min(loads):.1f} to "
        f"{max(loads):.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'ranks':>5}  {'examples/s (median)':>20}  {'efficiency':>10}")
    verdicts = []
    for world in worlds:
        throughput = statistics.median(results[world])
        efficiency = throughput / (world * base)
        print(f"{world:>5}  {throughput:>20.1f}  {efficiency:>10.3f}")
        if world == 2:
            verdicts.append(efficiency)
    if verdicts:
        verdict = "meets" if verdicts[0] >= TARGET else "misses"
        print(f"verdict: 2-rank efficiency {verdicts[0]:.3f} {verdict} the target {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Streaming data: images per second delivered by the ``folder`` and ``shards``
datasets with 0, 1 and 2 worker processes against a bare Pillow decode loop over the
same files, and the peak resident memory of a training run over a generated folder
whose float32 tensor would not fit a stated memory budget.

Throughput. The bare loop opens each file with Pillow, converts it to RGB, centre-crops
it to a square, resizes it (bicubic) and copies the pixels into a uint8 array: the work
the datasets do per image, without ebkit. Each dataset configuration delivers
``--batches`` timed batches, after untimed ones that start its workers and drain what
they prefetch while starting (the bare loop decodes as many files); the rounds
interleave the configurations, and the medians are printed with the ratio to the bare
loop and, per worker, to the bare loop times the number of workers (target ≥ 0.9: a
worker decodes as fast as the bare loop). The shards pay for their archive format too:
a second bare loop reads the same tar shards with Python's ``tarfile`` and decodes the
members with Pillow, and the shard rows are also given per worker against it (above 1:
ebkit's own tar reader costs less per member than ``tarfile``). On a machine with fewer
free cores than workers the per-worker ratio measures the machine, not ebkit: the load
average is printed before and after.

Memory. ``ebkit train`` runs over a generated folder of ``--memory-images`` images with
``--workers 2``; the peak resident memory of the training process and of its whole
process tree (the workers included) is sampled from /proc while it runs, and compared
with the size the folder would take as one float32 tensor (how ``folder`` held it
before it streamed) and with ``--budget-mb``; the same run over a folder of 640 images
shows what does not depend on the number of images (the interpreter, torch, the
networks). The process tree is summed as proportional set size (shared library pages
divided among the processes that map them), which plain RSS would count once per
worker.

    python benchmarks/data.py                       # about 15 minutes on 2 busy cores
    python benchmarks/data.py --rounds 1 --memory-images 2000 --memory-steps 40   # a look
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image


def write_images(folder: Path, count: int, side: int, seed: int) -> list[Path]:
    """``count`` JPEG photos-like images (smooth gradients plus noise), ``side`` × side+16."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, side + 16, dtype=np.float32)
    files = []
    for index in range(count):
        base = ramp[None, :, None] * rng.uniform(0.5, 1.0, (1, 1, 3))
        noise = rng.normal(0, 20, (side, side + 16, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        file = folder / f"{index // 1000:03d}" / f"{index:06d}.jpg"
        file.parent.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(file, quality=90)
        files.append(file)
    return files


def write_shards(files: list[Path], folder: Path, per_shard: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(files), per_shard):
        with tarfile.open(folder / f"shard-{start // per_shard:05d}.tar", "w") as archive:
            for file in files[start : start + per_shard]:
                archive.add(file, arcname=file.name)


def bare_decode(file: Path | io.BytesIO, size: int) -> np.ndarray:
    with Image.open(file) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        square = rgb.crop((left, top, left + side, top + side))
        return np.array(square.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def bare_rate(files: list[Path], size: int) -> float:
    start = time.perf_counter()
    for file in files:
        bare_decode(file, size)
    return len(files) / (time.perf_counter() - start)


def bare_shard_rate(shards: list[Path], count: int, size: int) -> float:
    """The bare loop over tar shards: Python's tarfile reads the members in stored order
    and Pillow decodes them from memory — the cost of the archive format, without ebkit."""
    start, done = time.perf_counter(), 0
    for shard in shards:
        with tarfile.open(shard) as archive:
            for member in archive:
                bare_decode(io.BytesIO(archive.extractfile(member).read()), size)
                done += 1
                if done == count:
                    return done / (time.perf_counter() - start)
    return done / (time.perf_counter() - start)


def dataset_rate(dataset, workers: int, batches: int, batch: int) -> float:
    import torch

    dataset.configure(workers=workers)
    generator = torch.Generator().manual_seed(0)
    # Not timed: starting the workers, and as many batches as they prefetch (4 each)
    # while they start, so that the timed batches are decoded while they are timed.
    for _ in range(4 * workers + 2):
        dataset.sample(batch, generator)
    start = time.perf_counter()
    for _ in range(batches):
        dataset.sample(batch, generator)
    rate = batches * batch / (time.perf_counter() - start)
    dataset.configure(workers=0)  # stops the workers before the next configuration
    return rate


def throughput(args: argparse.Namespace, root: Path) -> None:
    import torch

    from ebkit.builtins.datasets.image_folder import ImageFolder
    from ebkit.builtins.datasets.shards import ImageShards

    torch.set_num_threads(1)
    files = write_images(root / "folder", args.images, args.side, seed=0)
    write_shards(files, root / "shards", args.per_shard)
    shards = sorted((root / "shards").glob("*.tar"))
    configurations = {"bare Pillow loop": None, "bare tarfile + Pillow loop": None}
    for workers in args.workers:
        configurations[f"folder, {workers} workers"] = ("folder", workers)
        configurations[f"shards, {workers} workers"] = ("shards", workers)
    rates: dict[str, list[float]] = {name: [] for name in configurations}
    for round_index in range(args.rounds):
        for name, choice in configurations.items():
            count = args.batches * args.batch_size
            if name == "bare Pillow loop":
                rates[name].append(bare_rate(files[:count], args.size))
                continue
            if choice is None:
                rates[name].append(bare_shard_rate(shards, count, args.size))
                continue
            kind, workers = choice
            # A fresh dataset each round: every configuration reads the files cold alike.
            if kind == "folder":
                dataset = ImageFolder(root / "folder", size=args.size)
            else:
                dataset = ImageShards(root / "shards", size=args.size)
            rates[name].append(dataset_rate(dataset, workers, args.batches, args.batch_size))
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    bare = statistics.median(rates["bare Pillow loop"])
    print(
        f"\n{args.images} JPEG files of {args.side}x{args.side + 16}, decoded to {args.size}x"
        f"{args.size} RGB; {args.batches} timed batches of {args.batch_size} (the bare loop: "
        f"as many files); medians of {args.rounds} rounds"
    )
    bare_tar = statistics.median(rates["bare tarfile + Pillow loop"])
    print(
        "| source | images/s | ratio to bare Pillow loop | per worker (target >= 0.9) "
        "| per worker, to the bare tarfile loop |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, values in rates.items():
        rate = statistics.median(values)
        workers = 0 if configurations[name] is None else configurations[name][1]
        per_worker = rate / (bare * max(workers, 1))
        to_tar = f"{rate / (bare_tar * max(workers, 1)):.2f}" if "shards" in name else ""
        print(f"| {name} | {rate:,.0f} | {rate / bare:.2f} | {per_worker:.2f} | {to_tar} |")


def _pss_kb(pid: int) -> int:
    """Proportional set size: resident pages, those shared with other processes (the
    torch libraries the workers map too) divided among them, so sums do not count them
    twice."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            return next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
    except (OSError, StopIteration, ValueError):
        return 0


def tree_memory_kb(root_pid: int) -> tuple[int, int]:
    """Resident memory (kB, RSS) of ``root_pid`` and the proportional set size of it
    with all its descendants (the worker processes and their server)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return rss.get(root_pid, 0), sum(_pss_kb(pid) for pid in tree)


def train_peak(folder: Path, args: argparse.Namespace, out: Path) -> tuple[float, int, int]:
    """Seconds, and the peak memory (kB) of ``ebkit train`` over ``folder`` with two
    workers: RSS of the training process, PSS of it with its workers."""
    command = [
        sys.executable, "-m", "ebkit", "train", "--energy", "mlp", "--sampler", "generator",
        "--loss", "gan", "--data", "folder", "--data-path", str(folder),
        "-o", f"data.size={args.memory_size}", "-o", "sampler.arch=mlp",
        "-o", "energy.width=64", "-o", "sampler.width=64", "--batch-size", "64",
        "--steps", str(args.memory_steps), "--workers", "2", "-o", "train.sample_every=0",
        "-o", "train.checkpoint_every=100", "--quiet", "--out", str(out),
    ]  # fmt: skip
    peaks = [0, 0]
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"})
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            own, tree = tree_memory_kb(process.pid)
            peaks[0], peaks[1] = max(peaks[0], own), max(peaks[1], tree)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = process.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"ebkit train exited with {code}")
    return time.perf_counter() - started, peaks[0], peaks[1]


def memory(args: argparse.Namespace, root: Path) -> None:
    start = time.perf_counter()
    write_images(root / "big", args.memory_images, args.memory_size, seed=1)
    made = time.perf_counter() - start
    write_images(root / "small", 640, args.memory_size, seed=2)
    float_mib = args.memory_images * 3 * args.memory_size**2 * 4 / 2**20
    print(
        f"\nmemory: {args.memory_images:,} JPEG images generated in {made:.0f} s; as one "
        f"float32 tensor of {args.memory_size}x{args.memory_size} RGB (how folder held "
        f"them before it streamed) they take {float_mib:,.0f} MiB, over the "
        f"{args.budget_mb:,} MiB budget"
    )
    print(f"ebkit train --data folder --workers 2, {args.memory_steps} steps of 64, MLP nets")
    print("| folder | seconds | peak RSS, training process | peak PSS, with its 2 workers |")
    print("| --- | --- | --- | --- |")
    for name, count in (("small", 640), ("big", args.memory_images)):
        seconds, own, tree = train_peak(root / name, args, root / f"run-{name}")
        print(
            f"| {count:,} images | {seconds:.0f} | {own / 1024:,.0f} MiB | {tree / 1024:,.0f} MiB |"
        )
    verdict = "within" if tree / 1024 <= args.budget_mb else "OVER"
    print(
        f"the run over {args.memory_images:,} images: {verdict} the {args.budget_mb:,} MiB budget"
    )


def _worker_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give counts >= 0 separated by commas, e.g. 0,2,4"
        )
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="files for throughput")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per round")
    parser.add_argument("--side", type=int, default=96, help="height of the files' images")
    parser.add_argument("--size", type=int, default=64, help="side after resizing")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--per-shard", type=int, default=250, help="images per tar shard")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=_worker_counts,
        default=(0, 1, 2),
        help="worker counts to measure, comma-separated (default 0,1,2)",
    )
    parser.add_argument("--memory-images", type=int, default=20_000)
    parser.add_argument("--memory-size", type=int, default=128)
    parser.add_argument("--memory-steps", type=int, default=300)
    parser.add_argument("--budget-mb", type=int, default=2048)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    print(
        f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
        f"on {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as temporary:
        if not args.skip_throughput:
            throughput(args, Path(temporary))
        if not args.skip_memory:
            memory(args, Path(temporary))
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

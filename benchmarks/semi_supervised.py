"""Semi-supervised MNIST with 100 labels: a supervised-only MLP, the Ladder network alone
and EBGAN-LN (the Ladder network as the energy of an EBGAN), at equal step budgets.

The data is the real MNIST test set (``--data-path``, 10,000 digits), split by ebkit's
seeded split into 8,000 training digits (``--labels`` of them labelled, balanced over
the classes) and 2,000 held-out test digits (20% of each class), never trained on. For
each seed the three models see the same split:

- ``supervised MLP``: the Ladder's encoder sizes (784-1000-500-250-250-250-10, BatchNorm,
  ReLU) trained on the labelled digits alone with cross-entropy, written out here in
  plain PyTorch;
- ``Ladder``: ``ebkit train --energy ladder --sampler none --loss none --labels 100``;
- ``EBGAN-LN``: ``ebkit train --energy ladder --sampler generator --loss margin
  --labels 100`` with the margin decayed linearly from 16 to 0 while the generator trains,
  during the first ``--generator-share`` of the steps (a third: Zhao et al. 2017, App. D,
  60,000 of 180,000 steps), the energy training on alone afterwards. With
  ``--generator-warmup N`` its generator first trains N steps as an EBGAN on the seed's
  training digits, so that its samples are near-digits when the margin term acts
  (``--freeze-generator`` keeps it so).

All three use Adam (β₁ = 0.5) with the same learning rate for the classifier/energy,
decayed linearly to 0 over the last third of the steps, batches of 100. The Ladder and
EBGAN-LN of one seed start from the same weights, see the same batches and draw the same
corruption noise for the data (the ladder energy's ``contrastive_noise = own``), so they
differ by the margin term alone. The script prints each seed's held-out error, the mean ±
standard deviation per model, the relative change of EBGAN-LN against the Ladder and the
paired difference EBGAN-LN − Ladder over the seeds with its standard error. It is a
benchmark: the exit code is 0 whatever the numbers.

    python benchmarks/semi_supervised.py --data-path ../shared/data/mnist
    python benchmarks/semi_supervised.py --data-path ../shared/data/mnist --steps 300 \
        --seeds 10 --models ladder,ebgan-ln --threads 1

Timings: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import ebkit
from ebkit.builtins.datasets.mnist import MNIST
from ebkit.core.engine import Callback, Trainer
from ebkit.runs.splits import semi_supervised_split

LADDER_SIZES = (1000, 500, 250, 250, 250)
TEST_FRACTION = 0.2
"""The held-out share of every class: 2,000 of the 10,000 digits."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-path", required=True, help="directory of the MNIST IDX files")
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the first seed: seeds K .. K+N-1, to add seeds to an earlier run",
    )
    parser.add_argument("--steps", type=int, default=1000, help="steps of every model")
    parser.add_argument("--lr", type=float, default=2e-3, help="classifier/energy learning rate")
    parser.add_argument("--generator-lr", type=float, default=1e-3)
    parser.add_argument(
        "--generator-share",
        type=float,
        default=1 / 3,
        help="share of the steps during which EBGAN-LN's margin decays and G trains, in (0, 1] "
        "(App. D: the first 60,000 of 180,000)",
    )
    parser.add_argument(
        "--margin", type=float, default=16.0, help="EBGAN-LN's initial margin (decays to 0)"
    )
    parser.add_argument(
        "--final-margin",
        type=float,
        default=0.0,
        help="the margin reached at the end of the generator's share (App. D: 0)",
    )
    parser.add_argument(
        "--margin-relative-to",
        choices=("zero", "data"),
        default="zero",
        help="zero: the margin is in the energy's units (App. D's 16 -> 0); data: it is a "
        "multiple of the batch's mean data energy E(x) (e.g. --margin 1.2: 1.2·E(x) -> 0)",
    )
    parser.add_argument(
        "--hinge-weight",
        type=float,
        default=1.0,
        help="weight λ of the hinge term in the energy's loss, E(x) + λ·[m − E(G(z))]⁺ "
        "(eq. 1: 1); below 1 the margin term is a weak contrastive regulariser",
    )
    parser.add_argument(
        "--generator-objective",
        choices=("energy", "feature-matching"),
        default="energy",
        help="energy: G lowers E(G(z)) (EBGAN eq. 2); feature-matching: G matches the mean "
        "of the Ladder's top hidden layer on the data (Salimans et al. 2016)",
    )
    parser.add_argument(
        "--generator-warmup",
        type=int,
        default=0,
        help="train EBGAN-LN's generator this many steps first, as an EBGAN on the seed's "
        "training digits (never the held-out ones), and start EBGAN-LN from it (0: from "
        "scratch, as App. D)",
    )
    parser.add_argument(
        "--freeze-generator",
        action="store_true",
        help="keep the warmed-up generator as it is during EBGAN-LN (needs --generator-warmup)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--models",
        default="mlp,ladder,ebgan-ln",
        help="comma-separated subset of mlp, ladder, ebgan-ln",
    )
    args = parser.parse_args(argv)
    if args.steps < 3 or args.seeds < 1 or args.labels < 10 or args.first_seed < 0:
        parser.error("--steps must be >= 3, --seeds >= 1, --first-seed >= 0 and --labels >= 10")
    if not 0 <= args.hinge_weight < float("inf"):
        parser.error(f"--hinge-weight must be finite and >= 0, not {args.hinge_weight:g}")
    if args.generator_warmup < 0:
        parser.error(f"--generator-warmup must be >= 0, not {args.generator_warmup}")
    if args.freeze_generator and not args.generator_warmup:
        parser.error("--freeze-generator needs --generator-warmup STEPS > 0")
    if not 0 < args.generator_share <= 1:
        parser.error(f"--generator-share must be in (0, 1], not {args.generator_share:g}")
    return args


def supervised_mlp_error(seed: int, args: argparse.Namespace) -> float:
    """Train an MLP of the Ladder's sizes on the labelled digits only."""
    split = semi_supervised_split(
        MNIST(args.data_path), labels=args.labels, test_fraction=TEST_FRACTION, seed=seed
    )
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    sizes = (784, *LADDER_SIZES)
    for size_in, size_out in itertools.pairwise(sizes):
        layers += [nn.Linear(size_in, size_out), nn.BatchNorm1d(size_out), nn.ReLU()]
    model = nn.Sequential(nn.Flatten(), *layers, nn.Linear(sizes[-1], 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.999))
    x, y = split.labelled.x, split.labelled.y
    generator = torch.Generator().manual_seed(seed)
    decay_from = int(args.steps * 2 / 3)
    for step in range(args.steps):
        if step >= decay_from:
            for group in optimizer.param_groups:
                group["lr"] = args.lr * (args.steps - step) / (args.steps - decay_from)
        index = torch.randint(len(y), (min(100, len(y)),), generator=generator)
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(split.test_x).argmax(dim=1)
    return float((predicted != split.test_y).float().mean())


def ebgan_ln_options(args: argparse.Namespace) -> dict[str, float | int | str]:
    """EBGAN-LN's options on top of the Ladder's: the margin moves linearly from
    ``--margin`` to ``--final-margin`` (App. D: 16 → 0) while the generator trains, during
    the first ``--generator-share`` of the steps (Zhao et al. 2017, App. D), the generator
    at ``--generator-lr`` with ``--generator-objective``; with ``--margin-relative-to
    data`` both margins are multiples of the batch's mean data energy E(x); the hinge
    term is weighted by ``--hinge-weight`` (eq. 1: 1)."""
    generator_steps = max(1, int(args.steps * args.generator_share))
    return {
        "loss.margin": args.margin,
        "loss.schedule": "linear",
        "loss.final_margin": args.final_margin,
        "loss.schedule_steps": generator_steps,
        "loss.relative_to": args.margin_relative_to,
        "loss.generator": args.generator_objective,
        "loss.hinge_weight": args.hinge_weight,
        "train.sampler_steps": generator_steps,
        "train.sampler_lr": args.generator_lr,
    }


def margin_activity(history: list[dict]) -> dict[str, float]:
    """What EBGAN-LN's margin term did, from a run's logged records: over the logged
    steps whose margin m > 0, the mean share of generated samples with E(G(z)) < m (the
    only ones the hinge [m − E(G(z))]⁺ pushes up; 0 means the run trained as the Ladder
    does), the mean margin and the mean energies of the data and of the generated
    samples. All 0 when no logged step had a margin."""
    acting = [record for record in history if record.get("margin", 0.0) > 0]
    if not acting:
        return dict.fromkeys(("within_margin", "margin", "energy_real", "energy_fake"), 0.0)
    return {
        "within_margin": statistics.mean(1 - r["fake_above_margin"] for r in acting),
        "margin": statistics.mean(r["margin"] for r in acting),
        "energy_real": statistics.mean(r["energy_real"] for r in acting),
        "energy_fake": statistics.mean(r["energy_fake"] for r in acting),
    }


def warmed_up_generator(seed: int, args: argparse.Namespace, workdir: Path) -> Path:
    """Train a generator ``--generator-warmup`` steps as an EBGAN (``autoencoder`` /
    ``generator`` / ``margin`` at ebkit's defaults) on seed ``seed``'s 8,000 training
    digits, labelled and unlabelled, never the held-out ones; return its run directory.
    App. D's generator trains 60,000 steps before the margin reaches 0, so its samples
    are near-digits while the hinge acts (Zhao et al. 2017, Fig. 10); a few hundred
    steps of EBGAN-LN alone give blobs."""
    split = semi_supervised_split(MNIST(args.data_path), args.labels, TEST_FRACTION, seed)
    digits = workdir / f"training-digits-{seed}.npz"
    np.savez(digits, x=torch.cat([split.unlabelled.x, split.labelled.x]).numpy())
    out = workdir / f"generator-warmup-{seed}"
    ebkit.train(
        energy="autoencoder",
        sampler="generator",
        loss="margin",
        data="npz",
        data_path=digits,
        steps=args.generator_warmup,
        seed=seed,
        # The digits' own range, [-1, 1]: EBGAN-LN's generator maps to the same.
        options={"data.scale": "none", "train.sample_every": 0, "train.checkpoint_every": 0},
        out=out,
    )
    return out


class StartGeneratorFrom(Callback):
    """Loads a warmed-up generator into EBGAN-LN's sampler before its first step (the
    same network: both are ebkit's MLP generator for 28×28 digits); ``freeze`` keeps it
    there."""

    def __init__(self, run_dir: Path, freeze: bool) -> None:
        self.run_dir, self.freeze = run_dir, freeze

    def on_train_start(self, trainer: Trainer) -> None:
        sampler = trainer.components.sampler
        if trainer.step == 0:  # a resumed run's checkpoint holds its generator already
            warmed_up = ebkit.load_run(self.run_dir, device="cpu").sampler
            sampler.load_state_dict(warmed_up.state_dict())
        if self.freeze:
            sampler.requires_grad_(False)


def ebkit_run(
    seed: int, args: argparse.Namespace, *, ebgan: bool, workdir: Path
) -> tuple[float, list[dict]]:
    """Train through ``ebkit.train`` (the path of ``ebkit train``) and return the final
    held-out error it logged and the run's logged records."""
    options: dict[str, float | int | str] = {
        "train.labels": args.labels,
        "train.test_fraction": TEST_FRACTION,
        "train.energy_lr": args.lr,
        "train.lr_decay_start": 2 / 3,
        "train.eval_every": args.steps,
        "train.log_every": max(1, args.steps // 20),
        "train.sample_every": 0,
        "train.checkpoint_every": 0,
    }
    callbacks: list[Callback] = []
    if ebgan:
        options.update(ebgan_ln_options(args))
        if args.generator_warmup:
            warmed_up = warmed_up_generator(seed, args, workdir)
            callbacks.append(StartGeneratorFrom(warmed_up, args.freeze_generator))
    run = ebkit.train(
        energy="ladder",
        sampler="generator" if ebgan else "none",
        loss="margin" if ebgan else "none",
        data="mnist",
        data_path=args.data_path,
        steps=args.steps,
        batch_size=100,
        seed=seed,
        options=options,
        out=workdir / f"{'ebgan-ln' if ebgan else 'ladder'}-{seed}",
        callbacks=callbacks,
    )
    history = run.metrics_history()
    errors = [record["test_error"] for record in history if "test_error" in record]
    return float(errors[-1]), history


def margin_activity_note(activity: dict[str, float]) -> str:
    """The per-seed note on what the margin term did (see :func:`margin_activity`)."""
    return (
        f"; while m > 0: {100 * activity['within_margin']:.1f}% of G(z) within the margin "
        f"(m {activity['margin']:.1f}, E(x) {activity['energy_real']:.1f}, "
        f"E(G(z)) {activity['energy_fake']:.1f}; means over logged steps)"
    )


def paired_difference(first: list[float], second: list[float]) -> tuple[float, float]:
    """Mean and standard error, in percentage points, of the per-seed differences
    ``first[i] - second[i]`` (errors as fractions; both models saw seed i's split): the
    paired comparison, which removes the spread that comes from which digits are
    labelled. The standard error is ``stdev(d) / sqrt(n)``, 0 for a single seed."""
    differences = [100 * (a - b) for a, b in zip(first, second, strict=True)]
    spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
    return statistics.mean(differences), spread / len(differences) ** 0.5


def paired_difference_line(ebgan: list[float], ladder: list[float]) -> str:
    """The verdict line on the paired per-seed differences EBGAN-LN − Ladder."""
    mean, standard_error = paired_difference(ebgan, ladder)
    wins = sum(a < b for a, b in zip(ebgan, ladder, strict=True))
    return (
        f"EBGAN-LN - Ladder, paired over {len(ladder)} seeds: {mean:+.2f} ± "
        f"{standard_error:.2f} points (mean ± s.e.; negative: EBGAN-LN lower), "
        f"EBGAN-LN lower on {wins} of {len(ladder)} seeds"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if not Path(args.data_path).is_dir():
        print(f"error: --data-path {args.data_path} is not a directory", file=sys.stderr)
        return 2
    models = [name.strip() for name in args.models.split(",")]
    unknown = set(models) - {"mlp", "ladder", "ebgan-ln"}
    if unknown:
        print(f"error: unknown --models {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    print(
        f"semi-supervised MNIST: {args.labels} labels, 8000 training / 2000 held-out digits "
        f"of the MNIST test set, {args.steps} steps, batch 100, lr {args.lr:g}, seeds "
        f"{args.first_seed}..{args.first_seed + args.seeds - 1}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs"
    )
    errors: dict[str, list[float]] = {name: [] for name in models}
    seconds: dict[str, float] = dict.fromkeys(models, 0.0)
    with tempfile.TemporaryDirectory(prefix="ebkit-semi-") as folder:
        workdir = Path(folder)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for name in models:
                start = time.perf_counter()
                history: list[dict] = []
                if name == "mlp":
                    error = supervised_mlp_error(seed, args)
                else:
                    ebgan = name == "ebgan-ln"
                    error, history = ebkit_run(seed, args, ebgan=ebgan, workdir=workdir)
                seconds[name] += time.perf_counter() - start
                errors[name].append(error)
                line = f"  seed {seed}  {name:<9} held-out error {100 * error:6.2f}%"
                if name == "ebgan-ln":
                    line += margin_activity_note(margin_activity(history))
                print(line, flush=True)
    print(f"{'model':<10} {'error % (mean ± std)':>22} {'seconds':>9}")
    for name in models:
        values = [100 * e for e in errors[name]]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name:<10} {statistics.mean(values):>13.2f} ± {spread:<6.2f} {seconds[name]:>9.0f}")
    if "ladder" in errors and "ebgan-ln" in errors:
        ladder, ebgan = statistics.mean(errors["ladder"]), statistics.mean(errors["ebgan-ln"])
        change = 100 * (ladder - ebgan) / ladder if ladder else 0.0
        print(
            f"EBGAN-LN vs Ladder: {change:+.1f}% relative error reduction "
            f"({'EBGAN-LN better' if ebgan < ladder else 'Ladder better or equal'})"
        )
        print(paired_difference_line(errors["ebgan-ln"], errors["ladder"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

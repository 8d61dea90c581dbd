"""The Inception-v3 network behind the standard FID, KID and Inception score.

Published FIDs (Heusel et al. 2017) and Inception scores (Salimans et al. 2016) are
measured with one particular network: the TensorFlow Inception-v3 graph of 2015-12-05
(Szegedy et al. 2016), whose weights pytorch-fid and torch-fidelity publish converted to
PyTorch as ``pt_inception-2015-12-05-6726825d.pth`` (the same file under torch-fidelity's
name ``weights-inception-2015-12-05-6726825d.pth``). :class:`FIDInception` is that
graph's layout, so that the published state dict loads into it key for key; it differs
from torchvision's Inception-v3 where the TensorFlow graph does:

- the average pools inside the mixed blocks ignore the zero padding
  (``count_include_pad=False``), and the last block pools by maximum, not average;
- inputs are resized to 299 × 299 the way TensorFlow 1.x did bilinear resizing (source
  coordinate = output index × in/out, no half-pixel offset), then mapped by
  (x − 128) / 128 from 0..255;
- the classifier has 1008 outputs; the Inception score reads them without the bias, as
  the original Inception-score code multiplied the pool features by the weights alone.

Weights are read with :func:`load_inception` from a ``.safetensors`` file or from the
published ``.pth`` through ``torch.load(weights_only=True)``, PyTorch's restricted
unpickler that rebuilds tensors and plain containers only and runs no code from the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebkit.core.errors import UsageError

__all__ = [
    "INCEPTION_SIZE",
    "LOGIT_CLASSES",
    "POOL_FEATURES",
    "PUBLISHED_SHA256_PREFIX",
    "WEIGHTS_FILE_NAMES",
    "FIDInception",
    "expected_state_shapes",
    "find_inception_weights",
    "inception_input",
    "load_inception",
    "read_state_dict",
    "resize_bilinear_tf1",
]

INCEPTION_SIZE = 299
POOL_FEATURES = 2048
LOGIT_CLASSES = 1008
WEIGHTS_FILE_NAMES = (
    "pt_inception-2015-12-05-6726825d.pth",  # pytorch-fid
    "weights-inception-2015-12-05-6726825d.pth",  # torch-fidelity (same bytes)
)
"""The published weights' file names, looked for in torch hub's checkpoint folder."""
PUBLISHED_SHA256_PREFIX = "6726825d"
"""The start of the published file's SHA-256 (torch hub's naming convention)."""

Kernel = int | tuple[int, int]
Step = str | tuple[str, ...]
"""A tower step: one layer's name, or several layers applied to the same input whose
outputs are concatenated (the split 1×3 / 3×1 convolutions of the last two blocks)."""


class ConvBN(nn.Module):
    """Convolution without bias, batch normalisation (eps 0.001, as in the TensorFlow
    graph), ReLU; the children are named ``conv`` and ``bn`` like the published keys."""

    def __init__(
        self, inputs: int, outputs: int, kernel: Kernel, stride: int = 1, padding: Kernel = 0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(inputs, outputs, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(outputs, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _pool(kind: str, x: Tensor) -> Tensor:
    if kind == "average":  # TensorFlow's SAME average pool: padding is not counted
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    if kind == "maximum":
        return F.max_pool2d(x, 3, stride=1, padding=1)
    return F.max_pool2d(x, 3, stride=2)  # "reduce": the grid-halving blocks


class MixedBlock(nn.Module):
    """Parallel towers of :class:`ConvBN` layers and a pooled branch, concatenated along
    the channels. ``layers`` maps each layer's name (its state-dict prefix) to its
    ``(inputs, outputs, kernel, stride, padding)``; a layer called ``branch_pool``, if
    any, follows the pool."""

    def __init__(
        self,
        layers: dict[str, tuple[int, int, Kernel, int, Kernel]],
        towers: Sequence[Sequence[Step]],
        pool: str,
    ) -> None:
        super().__init__()
        for name, spec in layers.items():
            self.add_module(name, ConvBN(*spec))
        self.towers = [list(tower) for tower in towers]
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        outputs = []
        for tower in self.towers:
            y = x
            for step in tower:
                if isinstance(step, str):
                    y = self._modules[step](y)  # type: ignore[misc]
                else:
                    y = torch.cat([self._modules[name](y) for name in step], 1)  # type: ignore[misc]
            outputs.append(y)
        pooled = _pool(self.pool, x)
        if "branch_pool" in self._modules:
            pooled = self._modules["branch_pool"](pooled)  # type: ignore[misc]
        return torch.cat([*outputs, pooled], 1)


def _block_a(inputs: int, pool_channels: int) -> MixedBlock:
    """35 × 35 block: 1×1, 5×5 and double 3×3 towers."""
    return MixedBlock(
        {
            "branch1x1": (inputs, 64, 1, 1, 0),
            "branch5x5_1": (inputs, 48, 1, 1, 0),
            "branch5x5_2": (48, 64, 5, 1, 2),
            "branch3x3dbl_1": (inputs, 64, 1, 1, 0),
            "branch3x3dbl_2": (64, 96, 3, 1, 1),
            "branch3x3dbl_3": (96, 96, 3, 1, 1),
            "branch_pool": (inputs, pool_channels, 1, 1, 0),
        },
        [["branch1x1"], ["branch5x5_1", "branch5x5_2"], [f"branch3x3dbl_{i}" for i in (1, 2, 3)]],
        "average",
    )


def _block_b(inputs: int) -> MixedBlock:
    """35 → 17 reduction."""
    return MixedBlock(
        {
            "branch3x3": (inputs, 384, 3, 2, 0),
            "branch3x3dbl_1": (inputs, 64, 1, 1, 0),
            "branch3x3dbl_2": (64, 96, 3, 1, 1),
            "branch3x3dbl_3": (96, 96, 3, 2, 0),
        },
        [["branch3x3"], [f"branch3x3dbl_{i}" for i in (1, 2, 3)]],
        "reduce",
    )


def _block_c(inputs: int, width: int) -> MixedBlock:
    """17 × 17 block with factorised 7×7 towers of ``width`` channels."""
    row, column = ((1, 7), (0, 3)), ((7, 1), (3, 0))
    return MixedBlock(
        {
            "branch1x1": (inputs, 192, 1, 1, 0),
            "branch7x7_1": (inputs, width, 1, 1, 0),
            "branch7x7_2": (width, width, row[0], 1, row[1]),
            "branch7x7_3": (width, 192, column[0], 1, column[1]),
            "branch7x7dbl_1": (inputs, width, 1, 1, 0),
            "branch7x7dbl_2": (width, width, column[0], 1, column[1]),
            "branch7x7dbl_3": (width, width, row[0], 1, row[1]),
            "branch7x7dbl_4": (width, width, column[0], 1, column[1]),
            "branch7x7dbl_5": (width, 192, row[0], 1, row[1]),
            "branch_pool": (inputs, 192, 1, 1, 0),
        },
        [
            ["branch1x1"],
            [f"branch7x7_{i}" for i in (1, 2, 3)],
            [f"branch7x7dbl_{i}" for i in (1, 2, 3, 4, 5)],
        ],
        "average",
    )


def _block_d(inputs: int) -> MixedBlock:
    """17 → 8 reduction."""
    return MixedBlock(
        {
            "branch3x3_1": (inputs, 192, 1, 1, 0),
            "branch3x3_2": (192, 320, 3, 2, 0),
            "branch7x7x3_1": (inputs, 192, 1, 1, 0),
            "branch7x7x3_2": (192, 192, (1, 7), 1, (0, 3)),
            "branch7x7x3_3": (192, 192, (7, 1), 1, (3, 0)),
            "branch7x7x3_4": (192, 192, 3, 2, 0),
        },
        [["branch3x3_1", "branch3x3_2"], [f"branch7x7x3_{i}" for i in (1, 2, 3, 4)]],
        "reduce",
    )


def _block_e(inputs: int, pool: str) -> MixedBlock:
    """8 × 8 block whose 3×3 towers end in parallel 1×3 and 3×1 convolutions."""
    return MixedBlock(
        {
            "branch1x1": (inputs, 320, 1, 1, 0),
            "branch3x3_1": (inputs, 384, 1, 1, 0),
            "branch3x3_2a": (384, 384, (1, 3), 1, (0, 1)),
            "branch3x3_2b": (384, 384, (3, 1), 1, (1, 0)),
            "branch3x3dbl_1": (inputs, 448, 1, 1, 0),
            "branch3x3dbl_2": (448, 384, 3, 1, 1),
            "branch3x3dbl_3a": (384, 384, (1, 3), 1, (0, 1)),
            "branch3x3dbl_3b": (384, 384, (3, 1), 1, (1, 0)),
            "branch_pool": (inputs, 192, 1, 1, 0),
        },
        [
            ["branch1x1"],
            ["branch3x3_1", ("branch3x3_2a", "branch3x3_2b")],
            ["branch3x3dbl_1", "branch3x3dbl_2", ("branch3x3dbl_3a", "branch3x3dbl_3b")],
        ],
        pool,
    )


class FIDInception(nn.Module):
    """Inception-v3 as in the TensorFlow graph of 2015-12-05, in inference mode.

    ``forward(images)`` takes ``uint8 (N, 3, H, W)`` images (0..255, any size) and
    returns ``(pool, logits)``: the 2048-d average-pool features that FID and KID
    compare, and the 1008 class logits without the bias that the Inception score reads.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = _block_a(192, 32)
        self.Mixed_5c = _block_a(256, 64)
        self.Mixed_5d = _block_a(288, 64)
        self.Mixed_6a = _block_b(288)
        self.Mixed_6b = _block_c(768, 128)
        self.Mixed_6c = _block_c(768, 160)
        self.Mixed_6d = _block_c(768, 160)
        self.Mixed_6e = _block_c(768, 192)
        self.Mixed_7a = _block_d(768)
        self.Mixed_7b = _block_e(1280, "average")
        self.Mixed_7c = _block_e(2048, "maximum")
        self.fc = nn.Linear(POOL_FEATURES, LOGIT_CLASSES)
        self.eval()
        self.requires_grad_(False)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = inception_input(images.to(self.fc.weight.device))
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        pool = x.mean(dim=(2, 3))
        return pool, pool @ self.fc.weight.T


def resize_bilinear_tf1(images: Tensor, size: int) -> Tensor:
    """Bilinear resizing of ``(N, C, H, W)`` float images to ``size × size`` as
    TensorFlow 1.x's ``resize_bilinear`` (align_corners=False) did: output pixel i reads
    source coordinate i · in/out (no half-pixel offset), clamped at the last pixel."""

    def weights(length: int) -> tuple[Tensor, Tensor, Tensor]:
        scale = torch.tensor(length / size, dtype=torch.float32)
        source = torch.arange(size, dtype=torch.float32, device=images.device) * scale
        low = source.long()
        high = (low + 1).clamp(max=length - 1)
        return low, high, (source - low.float()).to(images.dtype)

    rows_low, rows_high, rows_frac = weights(images.shape[2])
    cols_low, cols_high, cols_frac = weights(images.shape[3])
    top, bottom = images[:, :, rows_low], images[:, :, rows_high]
    rows = top + (bottom - top) * rows_frac.view(1, 1, -1, 1)
    left, right = rows[..., cols_low], rows[..., cols_high]
    return left + (right - left) * cols_frac.view(1, 1, 1, -1)


def inception_input(images: Tensor) -> Tensor:
    """``uint8 (N, 3, H, W)`` images as the network's float input: resized to 299 × 299
    (:func:`resize_bilinear_tf1`) and mapped from 0..255 to (x − 128) / 128."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"the Inception takes uint8 images of shape (N, 3, H, W), "
            f"not {images.dtype} {tuple(images.shape)}"
        )
    resized = resize_bilinear_tf1(images.float(), INCEPTION_SIZE)
    return (resized - 128) / 128


def expected_state_shapes() -> dict[str, tuple[int, ...]]:
    """The published state dict's keys and shapes (BatchNorm's ``num_batches_tracked``
    left out: files may have it or not, and inference never reads it)."""
    with torch.device("meta"):
        network = FIDInception()
    return {
        key: tuple(value.shape)
        for key, value in network.state_dict().items()
        if not key.endswith("num_batches_tracked")
    }


def find_inception_weights(path: str | Path | None = None) -> Path:
    """The weights file to use: ``path`` when given, else the first of
    :data:`WEIGHTS_FILE_NAMES` in torch hub's checkpoint folder (``$TORCH_HOME/hub/
    checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), where pytorch-fid and
    torch-fidelity download them. A :class:`UsageError` says where to put them."""
    if path is not None:
        chosen = Path(path).expanduser()
        if not chosen.is_file():
            raise UsageError(f"--inception-weights {path}: no such file")
        return chosen
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    for name in WEIGHTS_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise UsageError(
        f"no Inception weights: put {WEIGHTS_FILE_NAMES[0]} (pytorch-fid's release, see "
        f"docs/standard-metrics.md) in {folder}, or pass --inception-weights PATH"
    )


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a ``.safetensors`` file, or of a ``torch.save``-d state dict read
    with ``torch.load(weights_only=True)`` (no code from the file runs)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file: one line, not a traceback
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UsageError(
            f"{path}: not a readable weights file (a state dict saved with torch.save, or "
            f".safetensors): {type(error).__name__} {reason}".rstrip()
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, Tensor) for key, value in state.items()
    ):
        raise UsageError(f"{path}: holds {type(state).__name__}, not a state dict of tensors")
    return state


def _mismatch(path: Path, state: dict[str, Tensor]) -> str | None:
    """One line naming how ``state`` differs from the published layout, or ``None``."""
    expected = expected_state_shapes()
    given = {key: value for key, value in state.items() if not key.endswith("num_batches_tracked")}
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    wrong = [
        f"{key} {tuple(given[key].shape)} (expected {expected[key]})"
        for key in expected
        if key in given and tuple(given[key].shape) != expected[key]
    ]
    problems = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("shape", wrong)):
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            problems.append(f"{len(names)} {label}: {', '.join(names[:3])}{more}")
    if not problems:
        return None
    return (
        f"{path}: not the FID Inception-v3 weights ({'; '.join(problems)}); expected "
        f"{WEIGHTS_FILE_NAMES[0]} from pytorch-fid or torch-fidelity"
    )


def load_inception(path: str | Path, device: str | torch.device = "cpu") -> FIDInception:
    """:class:`FIDInception` with the weights of ``path`` (see :func:`read_state_dict`),
    checked key by key and shape by shape against the published layout first."""
    path = Path(path)
    state = read_state_dict(path)
    problem = _mismatch(path, state)
    if problem is not None:
        raise UsageError(problem)
    network = FIDInception()
    network.load_state_dict(
        {key: value.float() for key, value in state.items()}
        | {k: v for k, v in network.state_dict().items() if k.endswith("num_batches_tracked")},
        strict=True,
    )
    return network.to(device)

#!/usr/bin/env bash
# One table of ebkit's speed on a CUDA GPU: the overhead benchmark (EBGAN, MLP and conv),
# the Langevin benchmark and the data benchmark, each in float32, bf16 and compiled,
# every ratio against the eager float32 hand loop of the same run. Under 10 minutes.
#
#   bash benchmarks/gpu.sh            # on a machine with a CUDA GPU, from the repository root
#   DEVICE=cuda:1 bash benchmarks/gpu.sh
#
# Each benchmark's full output goes to $OUT (default: a temporary folder); the table at the
# end collects their "ratio ..." lines. A benchmark, not a test: the exit status is 0
# whatever the ratios (2 where no CUDA device is available).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
device=${DEVICE:-cuda}
out=${OUT:-$(mktemp -d -t ebkit-gpu-XXXXXX)}
mkdir -p "$out"

if ! "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "benchmarks/gpu.sh: no CUDA device is available (torch.cuda.is_available() is False)" >&2
    exit 2
fi
"$python" -c "import torch; print('device:', torch.cuda.get_device_name('$device'), '| torch', torch.__version__)" \
    | tee "$out/device.txt"

run() {  # run NAME SECONDS COMMAND...: one benchmark, cut off after SECONDS
    local name=$1 seconds=$2
    shift 2
    echo "== $name: $*" | tee -a "$out/commands.txt"
    timeout "$seconds" "$@" > "$out/$name.txt" 2>&1 || echo "  ($name stopped: status $?)" | tee -a "$out/$name.txt"
    grep -E "^ratio|weights|chains " "$out/$name.txt" || true
}

run overhead-mlp 150 "$python" benchmarks/overhead.py --device "$device" --precision bf16 \
    --compile --steps 300 --repeats 5 --budget 120
run overhead-conv 150 "$python" benchmarks/overhead.py --device "$device" --arch conv \
    --precision bf16 --compile --steps 100 --repeats 5 --budget 120
run langevin 150 "$python" benchmarks/langevin.py --device "$device" --precision bf16 \
    --compile --chains 4096 --steps 100 --repeats 9 --capacity 16384
# Decoding runs on the CPU whatever the device (precision and --compile do not apply): the
# streaming datasets against the bare decode loops, with as many workers as a GPU box has
# cores to spare. The memory half (20,000 generated images) would not fit the 10 minutes.
run data 150 "$python" benchmarks/data.py --skip-memory --rounds 2 --images 2000 \
    --workers 0,2,4,8

"$python" - "$out" <<'PYTHON'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
print()
print(open(out / "device.txt").read().strip())
print(f"{'benchmark':<14} | {'row':<58} | ratio")
print(f"{'-' * 14}-+-{'-' * 58}-+------")
for report in sorted(out.glob("*.txt")):
    if report.stem in ("device", "commands"):
        continue
    for line in report.read_text().splitlines():
        match = re.match(r"ratio (.+?): ([0-9.]+)(.*)", line.strip())
        if match:
            row, value, rest = match.groups()
            print(f"{report.stem:<14} | {row[:58]:<58} | {value}{rest[:40]}")
print(f"(full outputs: {out})")
PYTHON

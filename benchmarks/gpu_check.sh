#!/bin/bash
# The GPU measurements of README "Speed", as one prepared run on a machine with one NVIDIA GPU and >= 4 CPU cores.
#
#   OUT=results/ bash benchmarks/gpu_check.sh
#
# Expects the packages of the GPU machine's image (JAX with its CUDA plugin, NumPyro, pandas, matplotlib, h5py,
# scipy) and, in .whl/, wheels of what the image lacks (infergy itself, ArviZ 1.x, h5netcdf, xarray; blackjax,
# optax and absl-py for the ChEES row):
#   pip wheel --no-deps -w .whl .   and   pip download --no-deps -d .whl arviz arviz-base arviz-stats ...
# Writes one JSON file per measurement to $OUT:
#   prop.json          propagation query-samples/s on the GPU, on the CPU (JAX) and NumPy, 1e6 .. 1e9 samples
#   fit_cpu2.json      the default fit (4 parallel chains) pinned to 2 CPU cores: the baseline
#   chees_gpu128.json  ChEES-HMC, 128 chains on the GPU (needs blackjax and optax wheels in .whl)
#   fit_gpu128.json    NUTS, 128 vectorized chains on the GPU (cut at 120 s)
# The CPU baseline runs on cores 0-1 while the GPU runs use the others, so all rows come from one machine and run.
set -u
OUT=${OUT:-/tmp/infergy-gpu-check}
mkdir -p "$OUT"
PY=${PY:-python3}
if [ -d .whl ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
nvidia-smi -L
(cd /tmp && $PY -c "import jax, numpyro, arviz, infergy; print('jax', jax.__version__, 'numpyro', numpyro.__version__, \
'arviz', arviz.__version__, 'infergy', infergy.__version__, jax.devices())") || exit 1
nproc
taskset -c 0,1 $PY benchmarks/bench_fit.py --device cpu --chains 4 --json >"$OUT/fit_cpu2.json" 2>"$OUT/fit_cpu2.log" &
cpu_fit=$!
G="taskset -c 2-$(($(nproc) - 1))"
$G $PY benchmarks/bench_propagation.py --device gpu --sizes 1e6,1e7,1e8,1e9 --json >"$OUT/prop.json" 2>"$OUT/prop.log"
echo "propagation rc $?"; cat "$OUT/prop.json"
# ChEES-HMC (all chains the same trajectory length), when BlackJAX and optax were carried in .whl
if (cd /tmp && $PY -c "import blackjax, optax") 2>/dev/null; then
    timeout 300 $G $PY benchmarks/bench_chees.py --device gpu --chains 128 --warmup 300 --draws 200 --json \
        >"$OUT/chees_gpu128.json" 2>"$OUT/chees_gpu128.log"
    echo "gpu ChEES 128 rc $?"; cat "$OUT/chees_gpu128.json"; tail -3 "$OUT/chees_gpu128.log"
fi
# NUTS with 128 vectorized chains did not finish 300 + 100 iterations in 7 min on an H100 (2026-11-27): capped
timeout 120 $G $PY benchmarks/bench_fit.py --device gpu --chains 128 --warmup 300 --draws 100 --json \
    >"$OUT/fit_gpu128.json" 2>"$OUT/fit_gpu128.log"
echo "gpu NUTS 128 rc $? (124: cut at 120 s)"; cat "$OUT/fit_gpu128.json"
wait $cpu_fit
echo "cpu fit rc $?"; cat "$OUT/fit_cpu2.json"; tail -3 "$OUT/fit_cpu2.log"

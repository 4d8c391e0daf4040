#!/bin/bash
# The GPU measurements of README "Speed", as one prepared run on a machine with one NVIDIA GPU and >= 4 CPU cores.
#
#   OUT=results/ bash benchmarks/gpu_check.sh
#
# Expects the packages of the GPU machine's image (JAX with its CUDA plugin, NumPyro, pandas, matplotlib, h5py,
# scipy) and, in .whl/, wheels of what the image lacks (infergy itself, ArviZ 1.x, h5netcdf, xarray):
#   pip wheel --no-deps -w .whl .   and   pip download --no-deps -d .whl arviz arviz-base arviz-stats ...
# Writes one JSON file per measurement to $OUT:
#   prop.json          propagation query-samples/s on the GPU, on the CPU (JAX) and NumPy, 1e6 .. 1e9 samples
#   fit_cpu2.json      the default fit (4 parallel chains) pinned to 2 CPU cores: the baseline
#   fit_gpu128.json    128 vectorized chains on the GPU
#   fit_gpu4.json      the default 4 chains on the GPU (vectorized)
#   fit_gpu512.json    512 vectorized chains, when the run is still young enough (under 200 s at that point)
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
$G $PY benchmarks/bench_fit.py --device gpu --chains 128 --warmup 300 --draws 100 --json >"$OUT/fit_gpu128.json" \
    2>"$OUT/fit_gpu128.log"
echo "gpu fit 128 rc $?"; cat "$OUT/fit_gpu128.json"; tail -3 "$OUT/fit_gpu128.log"
$G $PY benchmarks/bench_fit.py --device gpu --chains 4 --warmup 300 --draws 100 --json >"$OUT/fit_gpu4.json" \
    2>"$OUT/fit_gpu4.log"
echo "gpu fit 4 rc $?"; cat "$OUT/fit_gpu4.json"; tail -3 "$OUT/fit_gpu4.log"
echo "elapsed ${SECONDS} s"
if [ "$SECONDS" -lt 200 ]; then
    timeout 200 $G $PY benchmarks/bench_fit.py --device gpu --chains 512 --warmup 300 --draws 50 --json \
        >"$OUT/fit_gpu512.json" 2>"$OUT/fit_gpu512.log"
    echo "gpu fit 512 rc $?"; cat "$OUT/fit_gpu512.json"; tail -3 "$OUT/fit_gpu512.log"
fi
wait $cpu_fit
echo "cpu fit rc $?"; cat "$OUT/fit_cpu2.json"; tail -3 "$OUT/fit_cpu2.log"

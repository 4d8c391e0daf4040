#!/bin/bash
# The GPU measurements of README "Speed", as one prepared run on a machine with one NVIDIA GPU and >= 4 CPU cores.
#
#   OUT=results/ bash benchmarks/gpu_check.sh
#
# Expects the packages of the GPU machine's image (JAX with its CUDA plugin, NumPyro, pandas, matplotlib, h5py,
# scipy, optax, absl-py) and, in .whl/, wheels of what the image lacks (infergy itself, blackjax, ArviZ 1.x,
# h5netcdf, xarray):
#   pip wheel --no-deps -w .whl .   and   pip download --no-deps -d .whl blackjax arviz arviz-base arviz-stats ...
# Writes one JSON file per measurement to $OUT:
#   fit_cpu2.json      the default fit (4 parallel chains, Hessian-whitened) pinned to 2 CPU cores: the baseline
#   fit_chees.json     `infergy fit --sampler chees` on the GPU, 128 chains, with the predictive draws and the
#                      review (cut at ${CHEES_FIT_S:-420} s), with its defaults (128 x (800 + 2,000), the step
#                      halved after warm-up, every 40th draw kept: on 2 CPU cores that passed its review;
#                      docs/scaling.md) and any flags in ${CHEES_FIT_ARGS}
#   chees_sampler.json the ChEES sampler alone (bench_chees.py's defaults), every draw kept, naming the parameters
#                      most extreme where each divergent transition started (only with DIVERGE=1); with
#                      VARIANTS=1 also chees_w1500_t080.json: 1,500 warm-up iterations, acceptance target 0.8
#   fit_gpu128.json    NUTS, 128 vectorized chains on the GPU, same coordinates (NUTS=1; cut at ${NUTS_S:-270} s:
#                      it did not finish on an H200, 2026-11-27)
#   prop.json          propagation query-samples/s on the GPU, on the CPU (JAX) and NumPy, 1e6 .. 1e9 samples
#                      (PROP=0 skips it)
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
(cd /tmp && $PY -c "import jax, numpyro, arviz, blackjax, infergy; print('jax', jax.__version__, 'numpyro', numpyro.__version__, \
'arviz', arviz.__version__, 'infergy', infergy.__version__, jax.devices())") || exit 1
nproc
taskset -c 0,1 timeout 420 $PY benchmarks/bench_fit.py --device cpu --chains 4 --json \
    >"$OUT/fit_cpu2.json" 2>"$OUT/fit_cpu2.log" &
cpu_fit=$!
G="taskset -c 2-$(($(nproc) - 1))"
# the product's GPU fit: ChEES-HMC, all chains the same trajectory length (its defaults: FitConfig.for_sampler)
# shellcheck disable=SC2086  # CHEES_FIT_ARGS is a list of flags
timeout "${CHEES_FIT_S:-420}" $G $PY benchmarks/bench_fit.py --device gpu --sampler chees \
    ${CHEES_FIT_ARGS-} --json >"$OUT/fit_chees.json" 2>"$OUT/fit_chees.log"
echo "gpu fit --sampler chees rc $? (124: cut)"; cat "$OUT/fit_chees.json"; tail -3 "$OUT/fit_chees.log"
if [ "${DIVERGE:-0}" != 0 ]; then  # where the rare divergences start (2 in 128,000 on an H200, old defaults)
    timeout "${CHEES_S:-300}" $G $PY benchmarks/bench_chees.py --device gpu --json >"$OUT/chees_sampler.json" \
        2>"$OUT/chees_sampler.log"
    echo "gpu ChEES sampler rc $?"; cat "$OUT/chees_sampler.json"
fi
if [ "${VARIANTS:-0}" != 0 ]; then
    timeout "${CHEES_S:-300}" $G $PY benchmarks/bench_chees.py --device gpu --warmup 1500 --target-accept 0.8 \
        --json >"$OUT/chees_w1500_t080.json" 2>"$OUT/chees_w1500_t080.log"
    echo "gpu ChEES sampler, 1,500 warm-up, target 0.8: rc $?"; cat "$OUT/chees_w1500_t080.json"
fi
if [ "${NUTS:-0}" != 0 ]; then  # NUTS waits for the longest trajectory among the vectorized chains
    timeout "${NUTS_S:-270}" $G $PY benchmarks/bench_fit.py --device gpu --chains 128 --warmup 300 --draws 200 \
        --json >"$OUT/fit_gpu128.json" 2>"$OUT/fit_gpu128.log"
    echo "gpu NUTS 128 rc $? (124: cut)"; cat "$OUT/fit_gpu128.json"; tail -3 "$OUT/fit_gpu128.log"
fi
if [ "${PROP:-1}" != 0 ]; then
    $G $PY benchmarks/bench_propagation.py --device gpu --sizes 1e6,1e7,1e8,1e9 --json >"$OUT/prop.json" \
        2>"$OUT/prop.log"
    echo "propagation rc $?"; cat "$OUT/prop.json"
fi
wait $cpu_fit
echo "cpu fit rc $?"; cat "$OUT/fit_cpu2.json"; tail -3 "$OUT/fit_cpu2.log"

#!/usr/bin/env bash
# One run on a machine with an NVIDIA GPU (the device tool lends one to some tasks for ~15 minutes):
# install graphc, run the CUDA tests (on such a machine tests/support.py lists 'cuda' among the runnable
# backends, so the registry sweep, the hypothesis random graphs, the training steps and the call fuzz all
# run on the GPU against the reference), train the examples on it, and benchmark graphc[cuda] beside
# PyTorch CUDA. That machine reaches no package registry: its Python has PyTorch with CUDA, cuda-python,
# NVRTC, llvmlite, sympy, networkx, pytest and hypothesis; anything else comes as wheels in .gpu_wheels/
# (pip download -d .gpu_wheels graphviz, then carry it). Results go to $OUT when it is set.
set -u
out="${OUT:-gpu_check_out}"
mkdir -p "$out"
python -m pip install -q --no-index --find-links .gpu_wheels graphviz 2>/dev/null || true
python -m pip install -q --no-deps -e . || exit 1
python -c "from graphc.info import report, format_report; print(format_report(report()))" | tee "$out/info.txt"
python -c "from graphc.backends.cuda.function import unavailable; import sys; why = unavailable(); print('cuda:', why or 'runnable'); sys.exit(1 if why else 0)" || exit 1
# the budget: one command of at most 10 minutes on the lent machine (about 9 here, the rest is install)
timeout 200 python -m pytest -q -x -p no:cacheprovider tests/backends/test_backends.py tests/backends/test_call_semantics.py \
    tests/backends/test_call_fuzz.py tests/backends/test_cuda.py 2>&1 | tail -40 | tee "$out/tests.txt"
for example in digits_mlp digits_cnn sequence_lstm tiny_transformer; do
    timeout 40 graphc train "examples/$example.py" --fast --backend cuda 2>&1 | tail -2 | tee -a "$out/examples.txt"
done
timeout 200 python -m benchmarks --workload W1,W2,W3,W4,W5,W2b1024,W3b1024 --backend cuda,llvm \
    --peers torch.cuda,torch --threads all --blocks 3 --json "$out/bench.json" 2>&1 | tail -60 | tee "$out/bench.txt"
# what the CUDA graph saves: the launch-bound workloads with every kernel launched one by one instead
GRAPHC_CUDA_GRAPH=0 timeout 60 python -m benchmarks --workload W1,W4 --backend cuda --peers none --threads all \
    --blocks 3 2>&1 | tail -20 | tee "$out/bench_no_graph.txt"

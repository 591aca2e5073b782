#!/usr/bin/env bash
# `make demo`: compile the bundled digits model for Loihi 2 and evaluate it on the held-out test split
# with the integer reference simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
TD=.venv/bin/tnas-deploy
mkdir -p build
echo "==> tnas-deploy compile models/digits_ttfs.json --calibration models/digits_calib.npz -o build/digits_ttfs.loihi2.tdart"
$TD compile models/digits_ttfs.json --calibration models/digits_calib.npz -o build/digits_ttfs.loihi2.tdart
echo
echo "==> tnas-deploy run build/digits_ttfs.loihi2.tdart --input models/digits_test.npz --backend reference -o build/digits_test.result.npz"
$TD run build/digits_ttfs.loihi2.tdart --input models/digits_test.npz --backend reference -o build/digits_test.result.npz
echo
echo "Model card (float ANN / float TTFS / quantized reference accuracy): models/README.md"

#!/usr/bin/env bash
# `make demo`: compile the bundled digits model for Loihi 2, evaluate it on the held-out test split with the
# integer reference simulator, run it on Lava's CPU simulator and verify both agree bit for bit, then write
# the energy report over every bundled hardware profile.
set -euo pipefail
cd "$(dirname "$0")/.."
TD=.venv/bin/tnas-deploy
ART=build/digits_ttfs.loihi2.tdart
mkdir -p build
step() { echo; echo "==> $*"; "$@"; }
step $TD compile models/digits_ttfs.json --calibration models/digits_calib.npz -o $ART
step $TD run $ART --input models/digits_test.npz --backend reference -o build/digits_test.result.npz
step $TD verify $ART --input models/digits_test.npz --samples 50
step $TD bench $ART --input models/digits_test.npz -o build/report-digits_ttfs
echo
echo "Model card (float ANN / float TTFS / quantized reference accuracy): models/README.md"
echo "Energy report over every hardware profile: build/report-digits_ttfs/report.html (and report.md, report.json)"

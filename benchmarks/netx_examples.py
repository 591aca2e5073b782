"""lava-dl's own example netx networks against lava-dl's netx: import, compile from the file's integers, and
`verify --backend netx` spike for spike, with the time each part takes (docs/interop.md, "netx").

    .venv/bin/python benchmarks/netx_examples.py [--samples 5] [--example NAME] [--steps T]
    make netx-examples                                          # all six, 5 samples each

Prints one JSON object per example:

example          tiny, mnist, pilotnet, ntidigits (rate genomes) or pilotnet_sdnn, pilotnet_sdnn_square (sigma-delta
                 genomes; installed with lava-dl 0.6.0, tests/lava/lib/dl/netx/)
file             the .net file
samples          samples compared (example_inputs: lava-dl's golden frame and seeded noisy copies; mnist: seeded;
                 ntidigits: windows of lava-dl's recorded input spikes; pilotnet_sdnn: lava-dl's signed frame + 128)
steps            input steps T (the file's tSample unless --steps; ntidigits: 120 of its 3000 unless --steps, as
                 one sample of 3000 steps takes minutes) and run_steps, T + D (ntidigits: its delays add up to 124;
                 sigma-delta: the steps until the readout settles, one per layer)
bit_exact        every spike (graded payload) of every block and the readout equal in netx and the reference
identical        samples identical / samples
spikes_compared  spikes compared (as the `bit-exact:` line says)
import_s         `tnas-deploy import` of the file
compile_s        `tnas-deploy compile` of the imported genome (exact: its chip integers)
reference_s      the integer reference simulator on the samples
netx_s           netx on the samples, one guarded Lava run each (the first includes importing lava-dl, ~6 s)
netx_s_per_sample
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.artifact import load_artifact, save_artifact  # noqa: E402
from tnas_deploy.compiler import compile_files  # noqa: E402
from tnas_deploy.genome import genome_from_json  # noqa: E402
from tnas_deploy.interop.netx_examples import EXAMPLES, example_file, example_inputs  # noqa: E402
from tnas_deploy.interop.netx_import import import_netx  # noqa: E402
from tnas_deploy.io_utils import write_files_atomic  # noqa: E402
from tnas_deploy.runner import simulate  # noqa: E402
from tnas_deploy.schemes import CompileOptions, scheme_for  # noqa: E402
from tnas_deploy.summary import summarize  # noqa: E402
from tnas_deploy.verify import compare, result_dict  # noqa: E402
from tnas_deploy.weights import check_weights, weights_image  # noqa: E402


#: Input steps when --steps is not given (None: the file's own).
DEFAULT_STEPS = {"ntidigits": 120}


def measure(name: str, samples: int, steps: int | None, folder: Path) -> dict:
    path = example_file(name)
    steps = steps if steps is not None else DEFAULT_STEPS.get(name)
    start = time.perf_counter()
    imported = import_netx(path, steps=steps)
    genome_path = folder / f"{name}.json"
    genome = genome_from_json({**imported.genome, "weights": f"{name}.h5"}, genome_path)
    weights = check_weights(genome, imported.weights, path)
    write_files_atomic({folder / f"{name}.h5": weights_image(weights), genome_path: genome.dumps().encode()})
    imported_s = time.perf_counter() - start
    start = time.perf_counter()
    net, _ = compile_files(genome_path, options=CompileOptions())
    save_artifact(net, folder / f"{name}.tdart", summarize(net))
    net, _ = load_artifact(folder / f"{name}.tdart")
    compile_s = time.perf_counter() - start
    x = example_inputs(name, samples, tuple(net.input_shape), steps=net.steps)
    start = time.perf_counter()
    ref = simulate(net, x)
    reference_s = time.perf_counter() - start
    start = time.perf_counter()
    got = scheme_for(net).run_netx(net, x, path)
    netx_s = time.perf_counter() - start
    comparison = compare(result_dict(ref), result_dict(got), [layer.id for layer in net.layers])
    return {"example": name, "file": str(path), "samples": samples, "steps": net.steps, "run_steps": net.run_steps,
            "bit_exact": comparison.bit_exact, "identical": f"{comparison.identical_samples}/{comparison.samples}",
            "spikes_compared": comparison.spikes_compared, "import_s": round(imported_s, 2),
            "compile_s": round(compile_s, 2), "reference_s": round(reference_s, 2), "netx_s": round(netx_s, 2),
            "netx_s_per_sample": round(netx_s / samples, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--example", choices=sorted(EXAMPLES), action="append")
    parser.add_argument("--steps", type=int, help="input steps T (default: each file's)")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="tnas-netx-examples-") as folder:
        for name in args.example or ["tiny", "mnist", "pilotnet", "ntidigits", "pilotnet_sdnn", "pilotnet_sdnn_square"]:
            row = measure(name, args.samples, args.steps, Path(folder))
            ok = ok and row["bit_exact"]
            print(json.dumps(row), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

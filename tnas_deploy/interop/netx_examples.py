"""lava-dl's own example netx networks, found in the installed lava-dl (its tests package ships them), and small
input sets for them built from data shipped beside them or drawn deterministically: what `tests/test_netx_examples.py`
and `benchmarks/netx_examples.py` import, compile and verify against netx (docs/interop.md, "netx").

Inputs are intensities in [0, 1] (the imported genomes' `coding.input`), sent as payloads round(255 x):

* `pilotnet`: sample 0 is lava-dl's golden PilotNet frame (`gts/pilotnet_lif/image.npy`, the input neurons' drive
  per pixel, 1..76) / 255, so its payload is that drive exactly; the others are the frame with seeded noise;
* `tiny`: sample 0 is lava-dl's golden tiny-network drive (`gts/tinynet/input_bias.npy`, 2..60) / 255, the
  others the same with seeded noise;
* `mnist`: seeded uniform intensities (lava-dl ships no MNIST digit beside the file);
* `ntidigits` (axonal delays, an event input of 64 channels): windows of T steps of lava-dl's recorded input
  spike train (`gts/ntidigits/input.npy`, 64 x 3000, busy from about step 100 to 500), starting at steps 150,
  200, 250, ... (shifted back to fit), each spike as x = 1/255: payload 1, the binary spike lava-dl sends;
* `pilotnet_sdnn` and `pilotnet_sdnn_square` (sigma-delta networks, `gts/pilotnet_sdnn/network.net` and
  `square_network.net`, whose input is the frame x 33 wide): sample 0 is lava-dl's PilotNet SDNN frame
  (`gts/pilotnet_sdnn/input.npy`, signed integers -52..64 per pixel) offset by SDNN_OFFSET and / 255, so its payload
  round(255 x) is the frame + 128 (a sigma-delta input is an unsigned 8-bit value: tnas-deploy's inputs are in
  [0, 1]); the others are that frame with seeded noise.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DeployError
from ..lava_dl_files import lava_dl_folder

#: Where lava-dl 0.6.0 installs its netx examples (inside its `tests` package).
EXAMPLES_DIR = "tests/lava/lib/dl/netx"
#: name -> (the .net file, relative to EXAMPLES_DIR; the drive of sample 0 in (x, y, channel) order, or None)
EXAMPLES = {
    "tiny": ("tiny.net", "gts/tinynet/input_bias.npy"),
    "mnist": ("mnist.net", None),
    "pilotnet": ("gts/pilotnet_lif/network.net", "gts/pilotnet_lif/image.npy"),
    "ntidigits": ("gts/ntidigits/ntidigits.net", "gts/ntidigits/input.npy"),
    "pilotnet_sdnn": ("gts/pilotnet_sdnn/network.net", "gts/pilotnet_sdnn/input.npy"),
    "pilotnet_sdnn_square": ("gts/pilotnet_sdnn/square_network.net", "gts/pilotnet_sdnn/input.npy"),
}
#: The sigma-delta examples: their frame is signed; sample 0's payload is the frame + SDNN_OFFSET.
SDNN_EXAMPLES = ("pilotnet_sdnn", "pilotnet_sdnn_square")
SDNN_OFFSET = 128
#: ntidigits: the first window starts here, the next ones this many steps later.
SPIKE_WINDOW_START, SPIKE_WINDOW_STRIDE = 150, 50
#: Standard deviation of the noise (in intensity) added to the golden frame for the other samples.
NOISE = 0.05


def examples_dir() -> Path:
    """The installed lava-dl's netx example folder (a DeployError when lava-dl or its tests package is missing)."""
    folder, version = lava_dl_folder(EXAMPLES_DIR, "the example netx networks")
    if not folder.is_dir():
        raise DeployError(f"lava-dl {version} is installed without its tests package, which holds the example "
                          "netx networks (reinstall lava-dl 0.6.0)", folder)
    return folder


def example_file(name: str) -> Path:
    """The .net file of example `name` (one of EXAMPLES)."""
    return examples_dir() / EXAMPLES[name][0]


def example_inputs(name: str, samples: int, input_shape: tuple[int, ...], seed: int = 0, steps: int | None = None
                   ) -> np.ndarray:
    """`samples` inputs in [0, 1] for example `name` (module documentation): static images (samples, *input_shape),
    or for ntidigits `steps` frames each (samples, steps, *input_shape)."""
    rng = np.random.default_rng(seed)
    drive_file = EXAMPLES[name][1]
    if drive_file is None:
        return rng.uniform(0.0, 1.0, (samples,) + tuple(input_shape))
    drive = np.load(examples_dir() / drive_file)              # (x, y, channel); ntidigits (channel, time)
    if name == "ntidigits":
        return _spike_windows(drive, samples, input_shape, steps)
    if name in SDNN_EXAMPLES:          # (x, y, channel, 1) signed integers; the square network takes x < 33
        drive = np.asarray(drive, dtype=np.float64)[..., 0][:input_shape[-1]] + SDNN_OFFSET
    frame = np.asarray(drive, dtype=np.float64).transpose(2, 1, 0) / 255.0
    if frame.shape != tuple(input_shape):
        raise DeployError(f"holds a frame of shape {list(frame.shape)}; the network takes {list(input_shape)}",
                          examples_dir() / drive_file)
    noisy = [np.clip(frame + rng.normal(0.0, NOISE, frame.shape), 0.0, 1.0) for _ in range(samples - 1)]
    return np.stack([frame] + noisy)[:samples]


def _spike_windows(spikes: np.ndarray, samples: int, input_shape: tuple[int, ...], steps: int | None) -> np.ndarray:
    length = spikes.shape[1]
    steps = length if steps is None else min(steps, length)
    starts = [min(SPIKE_WINDOW_START + SPIKE_WINDOW_STRIDE * k, length - steps) for k in range(samples)]
    windows = [spikes[:, start:start + steps].T for start in starts]        # (steps, channels)
    return np.stack(windows).reshape((samples, steps) + tuple(input_shape)) / 255.0


__all__ = ["EXAMPLES", "SDNN_EXAMPLES", "SDNN_OFFSET", "example_file", "example_inputs", "examples_dir"]

"""What the NIR exports of every coding share: the metadata keys, linear nodes, refusals, writing."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DeployError
from ..genome import Genome
from ..io_utils import hdf5_image, write_bytes_atomic
from ..projection import Projection

#: Metadata key of TTFS graphs (graph and nodes).
EXTENSION = "tnas_deploy.ttfs"
EXTENSION_VERSION = 1
#: Metadata key of rate graphs (graph and neuron nodes); its value is a JSON text.
RATE_EXTENSION = "tnas_deploy.rate"
RATE_EXTENSION_VERSION = 1


def linear_node(proj: Projection, src_shape: tuple[int, ...], bias: np.ndarray | None, out_shape: tuple[int, ...]):
    import nir

    w = np.asarray(proj.weight, dtype=np.float64)
    if proj.kind == "dense":
        return nir.Affine(weight=w, bias=np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64))
    if proj.kind == "conv2d":
        return nir.Conv2d(input_shape=tuple(src_shape[1:]), weight=w, stride=tuple(proj.stride),
                          padding=tuple(proj.padding), dilation=(1, 1), groups=1,
                          bias=np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64))
    # identity (residual add): a per-channel scale
    per = int(np.prod(out_shape[1:])) if len(out_shape) > 1 else 1
    return nir.Scale(scale=np.repeat(w, per).reshape(out_shape))


def refuse_node(genome: Genome, node_id: str, message: str, fld: str = "") -> DeployError:
    index = next(i for i, n in enumerate(genome.nodes) if n.id == node_id)
    return DeployError(f"NIR cannot express this: {message}", genome.source,
                       f"nodes[{index}] (id {node_id!r})" + (f".{fld}" if fld else ""))


def write_graph(graph, path: str | Path) -> Path:
    """Write a NIR graph atomically."""
    path = Path(path)
    write_bytes_atomic(path, nir_image(graph))
    return path


def nir_image(graph) -> bytes:
    """The bytes `nir.write(path, graph)` writes, built in memory (`io_utils.hdf5_image`): `nir.write` opens
    the path with libhdf5, which can crash the process when the disk fills. This follows nir 1.0's writer
    line by line; tests/test_outputs_and_damage.py checks that the bytes stay identical to `nir.write`'s."""
    import h5py
    import nir

    def write_recursive(group: h5py.Group, node: dict) -> None:
        for k, v in node.items():
            if k == "metadata":
                if v != {}:
                    write_recursive(group.create_group(k), v)
            elif isinstance(v, str):
                group.create_dataset(k, data=v, dtype=h5py.string_dtype())
            elif isinstance(v, np.ndarray):
                group.create_dataset(k, data=v, dtype=v.dtype, compression="gzip", compression_opts=None)
            elif isinstance(v, dict):
                write_recursive(group.create_group(str(k)), v)
            else:
                group.create_dataset(k, data=v)

    def fill(f: h5py.File) -> None:
        f.create_dataset("version", data=nir.version, dtype=h5py.string_dtype())
        write_recursive(f.create_group("node"), graph.to_dict())

    return hdf5_image(fill)

"""Camera bins at the bin edges, as MineStudio 1.1.6 computes them (golden file for
mine-dsl/tests/camera_edges.rs).

MineStudio's `CameraQuantizer.discretize` (minestudio/utils/vpt_lib/actions.py) runs in the
dtype of the recorded camera array: float64 for the converter's chunks, float32 where a dataset
stored float32 (numpy then takes the log in float32 and divides by `np.log(1.0 + mu)`, a
float64 scalar, in float64). Near a bin edge one rounding decides the bin, so this file pins
the bins of values within a few hundred ulps of every edge, in both dtypes, plus random values.

    /work/reference-venv/bin/python mine-runtime/examples/reference/camera_edges.py

writes mine-dsl/tests/golden/camera_edges.json (inputs as IEEE bit patterns, exact).
"""

import json
import os

import numpy as np
from minestudio.utils.vpt_lib.actions import CameraQuantizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "..", "mine-dsl", "tests", "golden", "camera_edges.json")

# MineStudio's ActionKernelCallback: binsize 2, maxval 10, mu 10 (an int), mu-law.
Q = CameraQuantizer(camera_binsize=2, camera_maxval=10, mu=10, quantization_scheme="mu_law")


def edges():
    """The degrees whose mu-law encoding lands exactly on a bin boundary (both signs)."""
    for b in range(10):
        e = (b + 0.5) * 2 - 10
        y = e / 10
        yield float(np.sign(y) * (1 / 10) * (11.0 ** abs(y) - 1) * 10)


def around(x, dtype, span):
    x = dtype(x)
    step = np.spacing(np.abs(x)).astype(dtype)
    return [dtype(x + dtype(k) * step) for k in range(-span, span + 1)]


def case(dtype, values, bits):
    arr = np.array(values, dtype=dtype)
    bins = Q.discretize(arr)
    return {
        "dtype": np.dtype(dtype).name,
        "bits": [int(v) for v in arr.view(bits)],
        "bins": [int(b) for b in bins],
    }


def main():
    rng = np.random.default_rng(0)
    f64 = [v for x in edges() for v in around(x, np.float64, 200)]
    f64 += list(rng.uniform(-12, 12, 2000))
    f32 = [v for x in edges() for v in around(x, np.float32, 200)]
    f32 += list(rng.uniform(-12, 12, 2000).astype(np.float32))
    data = {
        "source": "minestudio==1.1.6 CameraQuantizer(binsize=2, maxval=10, mu=10, mu_law)"
        f".discretize on numpy {np.__version__} arrays of each dtype",
        "cases": [case(np.float64, f64, np.uint64), case(np.float32, f32, np.uint32)],
    }
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    for c in data["cases"]:
        print(c["dtype"], len(c["bins"]), "values")


if __name__ == "__main__":
    main()

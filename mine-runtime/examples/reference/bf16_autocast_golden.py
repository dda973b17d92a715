"""Golden values for bf16-mixed on the CPU: what PyTorch's CPU autocast
(`torch.autocast("cpu", dtype=torch.bfloat16)`, what Lightning's `precision="bf16"` runs)
computes for a 3x3 convolution and a linear layer, forward and backward, with f32 leaves.

Each case stores its f32 inputs (x, weight, bias, and `up`, the gradient of the loss
`sum(out.float() * up)`), the output and the gradients of x, weight and bias, so that the
Rust test (`mine-runtime/tests/kernels_bf16_golden.rs`) needs no Python. Run with the
reference venv (setup.sh), one thread:

    python bf16_autocast_golden.py   # writes mine-runtime/tests/golden/bf16_autocast.json
"""
import json
import math
import pathlib

import torch

torch.set_num_threads(1)

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "golden" / "bf16_autocast.json"


def values(shape, seed):
    """Deterministic values in about [-1, 1] with many distinct mantissas (not bf16 values)."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    v = torch.sin(i * 0.7311 + seed * 1.37) * torch.cos(i * 0.1173 + seed)
    return v.to(torch.float32).reshape(shape)


def run(make, op, seed):
    """Inputs from `make`, `op` under bf16 autocast, the loss's backward."""
    x, w, b = (values(s, seed + k).requires_grad_() for k, s in enumerate(make["shapes"]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = op(x, w, b)
    assert out.dtype == torch.bfloat16, out.dtype
    up = values(tuple(out.shape), seed + 7)
    (out.float() * up).sum().backward()
    # 9 significant digits give every f32 back exactly.
    flat = lambda t: [float(f"{v:.9g}") for v in t.detach().float().reshape(-1).tolist()]
    return {
        "shapes": {"x": list(x.shape), "weight": list(w.shape), "bias": list(b.shape),
                   "out": list(out.shape)},
        "x": flat(x), "weight": flat(w), "bias": flat(b), "up": flat(up),
        "out": flat(out),
        "grad_x": flat(x.grad), "grad_weight": flat(w.grad), "grad_bias": flat(b.grad),
    }


def conv(n, ci, co, h, w):
    return {"shapes": [(n, ci, h, w), (co, ci, 3, 3), (co,)]}


conv_op = lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=1, padding=1)
linear_op = lambda x, w, b: torch.nn.functional.linear(x, w, b)

cases = {
    # Widths: two rows per register in our weight gradient (10), a full register and a part
    # (34); 5 output channels (not a multiple of its 3-channel tile); 3 input channels (the
    # image encoder's first convolution).
    "conv_8_8_10x10": run(conv(2, 8, 8, 10, 10), conv_op, 1),
    "conv_3_5_6x34": run(conv(1, 3, 5, 6, 34), conv_op, 2),
    "conv_16_16_16x16": run(conv(1, 16, 16, 16, 16), conv_op, 3),
    # torch's weight is [out, in]; ours [in, out] (the test transposes).
    "linear_6_40_24": run({"shapes": [(6, 40), (24, 40), (24,)]}, linear_op, 4),
}
meta = {"torch": torch.__version__, "threads": 1,
        "autocast": "torch.autocast('cpu', dtype=torch.bfloat16)"}
OUT.write_text(json.dumps({"meta": meta, "cases": cases}, separators=(",", ":")) + "\n")
print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")

"""How far a bf16 Winograd F(2x2, 3x3) convolution and weight gradient land from the exact ones,
next to the direct bf16 forms PyTorch's CPU autocast computes: the numbers behind
`kernels::cpu::conv3x3::winograd_bf16`, `winograd_bf16_weight_grad` and their test tolerances.

Everything is float64 except the bf16 roundings (torch's round-to-nearest-even):
- direct (autocast): conv(round(x), round(w)), the result rounded;
- Winograd as ours: U = G w Gᵀ and V = Bᵀ d B from the unrounded operands, each rounded once,
  the 16 products summed exactly, Y = Aᵀ M A, the result rounded;
- Winograd on rounded operands: the same after rounding x and w first (two roundings each).
The weight gradient alike: direct, dW(round(x), round(g)) rounded; Winograd as ours, dU = Σ_tiles
dM Vᵀ with dM = A g Aᵀ and V = Bᵀ d B each rounded once, dW = Gᵀ dU G rounded.

Run with the reference environment's Python (`examples/reference/setup.sh`):
    python bf16_winograd_error.py
Printed on 2026-12-06 (torch 2.15.0): the Winograd form as ours lands 1.35-1.6x the direct
form's relative RMS error from the exact convolution (3.8e-3 to 4.5e-3 against 2.8e-3 to
2.9e-3, output rounding included); rounding the operands first as well gives 4.3e-3 to 5.1e-3.
The weight gradient (added the same evening): 3.6e-3 to 4.5e-3 against the direct form's
2.7e-3 to 3.0e-3, 1.35-1.56x.
"""

import torch

B_T = torch.tensor([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=torch.float64)
G = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float64)
A_T = torch.tensor([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=torch.float64)


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float64)


def winograd(x, w, round_transforms):
    """x [C, H, W] (H, W even), w [O, C, 3, 3]: the padding-1 convolution [O, H, W]."""
    c, h, wd = x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    u = torch.einsum("ij,ocjk,lk->ocil", G, w, G)
    if round_transforms:
        u = bf16(u)
    # Every 4x4 input patch of stride 2: [C, H/2, W/2, 4, 4].
    d = padded.unfold(1, 4, 2).unfold(2, 4, 2)
    v = torch.einsum("ij,cyxjk,lk->cyxil", B_T, d, B_T)
    if round_transforms:
        v = bf16(v)
    m = torch.einsum("ocil,cyxil->oyxil", u, v)
    y = torch.einsum("ij,oyxjk,lk->oyxil", A_T, m, A_T)
    return y.permute(0, 1, 3, 2, 4).reshape(w.shape[0], h, wd)


def winograd_weight_grad(x, g, round_transforms):
    """x [N, C, H, W], g [N, O, H, W] (H, W even): the weight gradient [O, C, 3, 3] of the
    padding-1 convolution."""
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    d = padded.unfold(2, 4, 2).unfold(3, 4, 2)
    v = torch.einsum("ij,ncyxjk,lk->ncyxil", B_T, d, B_T)
    # The output gradient's 2x2 tiles spread to 4x4: dM = A g Aᵀ (A = A_Tᵀ).
    tiles = g.unfold(2, 2, 2).unfold(3, 2, 2)
    dm = torch.einsum("ji,noyxjk,kl->noyxil", A_T, tiles, A_T)
    if round_transforms:
        v, dm = bf16(v), bf16(dm)
    du = torch.einsum("noyxil,ncyxil->ocil", dm, v)
    return torch.einsum("ij,ocil,lk->ocjk", G, du, G)


def rms(a, exact):
    return ((a - exact).pow(2).mean().sqrt() / exact.pow(2).mean().sqrt()).item()


def main():
    torch.manual_seed(0)
    print("| channels | input | direct (autocast) | Winograd as ours | Winograd on rounded operands |")
    print("| --- | --- | --- | --- | --- |")
    for c, o, side in [(16, 16, 16), (64, 64, 16), (128, 128, 8)]:
        for kind in ["normal", "rectified", "uniform"]:
            x = torch.randn(c, side, side, dtype=torch.float64)
            if kind == "rectified":
                x = x.clamp(min=0)
            if kind == "uniform":
                x = torch.rand(c, side, side, dtype=torch.float64) - 0.5
            w = torch.randn(o, c, 3, 3, dtype=torch.float64) / (c * 9) ** 0.5
            exact = torch.nn.functional.conv2d(x[None], w, padding=1)[0]
            # The sanity check of the transforms: without rounding, Winograd is exact.
            assert (winograd(x, w, False) - exact).abs().max().item() < 1e-10
            direct = bf16(torch.nn.functional.conv2d(bf16(x)[None], bf16(w), padding=1)[0])
            ours = bf16(winograd(x, w, True))
            twice = bf16(winograd(bf16(x), bf16(w), True))
            print(
                f"| {c}->{o} @{side} | {kind} | {rms(direct, exact):.2e} | {rms(ours, exact):.2e} "
                f"| {rms(twice, exact):.2e} |"
            )
    print()
    print("Weight gradient, 4 images:")
    print()
    print("| channels | input | direct (autocast) | Winograd as ours |")
    print("| --- | --- | --- | --- |")
    for c, o, side in [(16, 16, 16), (64, 64, 16), (128, 128, 8)]:
        for kind in ["normal", "rectified", "uniform"]:
            x = torch.randn(4, c, side, side, dtype=torch.float64)
            if kind == "rectified":
                x = x.clamp(min=0)
            if kind == "uniform":
                x = torch.rand(4, c, side, side, dtype=torch.float64) - 0.5
            g = torch.randn(4, o, side, side, dtype=torch.float64)
            shape = (o, c, 3, 3)
            exact = torch.nn.grad.conv2d_weight(x, shape, g, padding=1)
            assert (winograd_weight_grad(x, g, False) - exact).abs().max().item() < 1e-9
            direct = bf16(torch.nn.grad.conv2d_weight(bf16(x), shape, bf16(g), padding=1))
            ours = bf16(winograd_weight_grad(x, g, True))
            print(f"| {c}->{o} @{side} | {kind} | {rms(direct, exact):.2e} | {rms(ours, exact):.2e} |")


if __name__ == "__main__":
    main()

"""Where MineStudio's VPT training step spends its time on the CPU, op by op: the step of
`vpt_step.py` (same model, batch, loss, clipping and AdamW; f32 or bf16 autocast) under
`torch.profiler`, summed into the categories BENCHMARKS.md compares with our own profile.

Run with the interpreter of the venv that `setup.sh` makes:

    python vpt_step_profile.py [--precision f32|bf16-mixed] [--batch 2 --time 16 --memory 32]
        [--threads 2] [--steps 10]

Prints (stdout) the wall time per step, a Markdown table of the categories (milliseconds per
step of the profiled ops' own time, and share) and PyTorch's table of the 30 costliest ops.
The profiler adds a little to the small ops; the step's median without it is `bench
--reference`'s job.
"""

import argparse
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from vpt_step import import_minestudio, make_batch, policy_kwargs  # noqa: E402

# (category, op-name prefixes), first match wins; BENCHMARKS.md's rows.
CATEGORIES = [
    ("conv backward (input and weight gradients)", ["aten::convolution_backward"]),
    ("conv forward", ["aten::mkldnn_convolution", "aten::_convolution", "aten::convolution"]),
    ("GroupNorm", ["aten::native_group_norm"]),
    ("max-pool", ["aten::max_pool2d"]),
    ("linear and attention products", ["aten::mm", "aten::addmm", "aten::bmm", "aten::linear"]),
    ("ReLU and its mask", ["aten::clamp_min", "aten::relu", "aten::threshold_backward"]),
    ("dtype casts and copies", ["aten::copy_", "aten::_to_copy", "aten::to", "aten::clone"]),
    ("fills (zeroing gradients)", ["aten::fill_", "aten::zero_"]),
    ("untimed batch making", ["aten::random_", "aten::randint"]),
]


def category(name):
    for label, prefixes in CATEGORIES:
        if any(name == p or name.startswith(p + "_") for p in prefixes):
            return label
    if name.startswith("Optimizer") or name in (
        "aten::lerp_", "aten::addcdiv_", "aten::addcmul_", "aten::sqrt", "aten::div",
        "aten::linalg_vector_norm", "aten::mul_", "aten::add_",
    ):
        return "optimizer, clipping, other element-wise"
    return "other"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", choices=["f32", "bf16-mixed"], default="f32")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--time", type=int, default=16)
    ap.add_argument("--memory", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(args.threads)
    VPTPolicy, BehaviorCloneCallback = import_minestudio()
    kwargs = policy_kwargs(args.time, args.memory)
    policy = VPTPolicy(policy_kwargs=kwargs)
    policy.train()
    bc = BehaviorCloneCallback(weight=1.0)
    params = list(policy.parameters())
    optim = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    memory = policy.initial_state(args.batch)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16-mixed")

    def step(i):
        nonlocal memory
        batch = make_batch(torch, args.batch, args.time, kwargs["img_shape"], "cpu")
        t0 = time.perf_counter()
        with autocast:
            latents, memory_out = policy(batch, memory)
            memory = [m.detach() for m in memory_out]
            loss = bc(batch, i, "train", latents, policy)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        optim.zero_grad()
        return time.perf_counter() - t0

    for i in range(3):
        step(i)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        walls = [step(3 + i) for i in range(args.steps)]
    events = prof.key_averages()
    totals = {}
    for e in events:
        label = category(e.key)
        totals[label] = totals.get(label, 0.0) + e.self_cpu_time_total / 1e3 / args.steps
    timed = sum(v for k, v in totals.items() if k != "untimed batch making")
    print(f"torch {torch.__version__}, {args.threads} threads, {args.precision}, "
          f"B={args.batch} T={args.time} mem {args.memory}: "
          f"median step {1e3 * statistics.median(walls):.1f} ms under the profiler")
    print("\n| category | ms per step | share |\n| --- | --- | --- |")
    order = [c for c, _ in CATEGORIES[1::-1] + CATEGORIES[2:]] + ["optimizer, clipping, other element-wise", "other"]
    for label in order:
        if label in totals and label != "untimed batch making":
            print(f"| {label} | {totals[label]:.1f} | {100 * totals[label] / timed:.1f}% |")
    print()
    print(events.table(sort_by="self_cpu_time_total", row_limit=30, max_name_column_width=48))


if __name__ == "__main__":
    main()

"""Reference benchmark: one MineStudio 1.1.6 (PyTorch) training step of a VPT, on the CPU or
on a CUDA GPU, in f32 or in bf16 mixed precision.

Run with the interpreter of the venv that `setup.sh` makes:

    python vpt_step.py --batch B --time T --memory M [--threads 2]
        [--device cpu|cuda] [--precision f32|bf16-mixed] [--policy-kwargs JSON]

Protocol (stdout carries JSON lines only; everything else goes to stderr):
  -> {"ready": true, "torch": ..., "minestudio": ..., "threads": N, "params": P, "device": D}
  <- "run N"   -> {"steps": [{"forward", "backward", "optimizer", "total"}, ...],
                   "peak_rss_mib": ..., "device_mib": ... (CUDA: peak bytes reserved)}
  <- "quit" or EOF: exit.      Any failure: {"error": "..."} and a non-zero exit.

The step follows MineStudio's MineLightning._batch_step: memory carried (and detached)
between steps, `latents, memory_out = policy(batch, memory)`, the loss from MineStudio's
own BehaviorCloneCallback, backward, global-norm clipping to 1.0, AdamW, zero_grad.
`--precision bf16-mixed` is Lightning's `precision="bf16"`: the forward and the loss under
`torch.autocast(dtype=torch.bfloat16)`, backward and the optimizer outside it, f32 weights.
On CUDA each part ends with `torch.cuda.synchronize()`, so that the clock measures the
work, not its queueing. `--policy-kwargs` is VPTPolicy's `policy_kwargs` (the Rust side
passes its own model's, so both build the same network); without it, the small VPT at
window T and memory M. All model and loss code that runs is MineStudio's; this file only
drives it.
"""

import argparse
import importlib.util
import json
import os
import resource
import sys
import time
import types

OUT = sys.stdout  # the protocol's channel; main() points sys.stdout at stderr


def emit(obj):
    OUT.write(json.dumps(obj) + "\n")
    OUT.flush()


def import_minestudio():
    """Import MineStudio's VPTPolicy and BehaviorCloneCallback without the package
    `__init__`s of `minestudio.models` (which also import the ROCKET/GROOT/STEVE-1
    policies: timm, torchvision, av, MineCLIP, ...) and `minestudio.offline` (which
    imports the Lightning trainer). Each is replaced by an empty package that points at
    the real directory, so the submodules load from MineStudio's own files unchanged."""
    root = os.path.dirname(importlib.util.find_spec("minestudio").origin)
    for name in ("minestudio.models", "minestudio.offline"):
        pkg = types.ModuleType(name)
        pkg.__path__ = [os.path.join(root, *name.split(".")[1:])]
        sys.modules[name] = pkg
    from minestudio.models.base_policy import MinePolicy
    # The callbacks do `from minestudio.models import MinePolicy`.
    sys.modules["minestudio.models"].MinePolicy = MinePolicy
    from minestudio.models.vpt.body import VPTPolicy
    from minestudio.offline.mine_callbacks.behavior_clone import BehaviorCloneCallback
    return VPTPolicy, BehaviorCloneCallback


def policy_kwargs(timesteps, memory):
    """The project's "small VPT" (the golden tiny VPT's kwargs at benchmark size)."""
    return dict(
        recurrence_type="transformer",
        impala_width=1,
        impala_chans=[16, 32, 32],
        hidsize=256,
        img_shape=[128, 128, 3],
        init_norm_kwargs={"batch_norm": False, "group_norm_groups": 1},
        impala_kwargs={"post_pool_groups": 1},
        attention_heads=4,
        attention_mask_style="clipped_causal",
        attention_memory_size=memory,
        timesteps=timesteps,
        n_recurrence_layers=2,
        use_pointwise_layer=True,
        pointwise_ratio=4,
        pointwise_use_activation=False,
        recurrence_is_residual=True,
        use_pre_lstm_ln=False,
    )


def make_batch(torch, b, t, img_shape, device):
    """A batch as MineStudio's data pipeline feeds it (and Lightning moves to the device):
    uint8 frames (B, T, H, W, C), integer agent actions (B, T, 1), mask of ones (B, T)."""
    h, w, c = img_shape
    return {
        "image": torch.randint(0, 256, (b, t, h, w, c), dtype=torch.uint8, device=device),
        "agent_action": {
            "buttons": torch.randint(0, 8641, (b, t, 1), dtype=torch.long, device=device),
            "camera": torch.randint(0, 121, (b, t, 1), dtype=torch.long, device=device),
        },
        "mask": torch.ones(b, t, device=device),
    }


def main():
    sys.stdout = sys.stderr  # anything a library prints goes to stderr
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--time", type=int, required=True)
    ap.add_argument("--memory", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--precision", choices=["f32", "bf16-mixed"], default="f32")
    ap.add_argument("--policy-kwargs", help="VPTPolicy's policy_kwargs as JSON")
    args = ap.parse_args()

    import torch
    from importlib.metadata import version

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: PyTorch sees no CUDA device (nvidia-smi?)")
    cuda = device.type == "cuda"
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    VPTPolicy, BehaviorCloneCallback = import_minestudio()

    kwargs = policy_kwargs(args.time, args.memory)
    if args.policy_kwargs:
        kwargs = json.loads(args.policy_kwargs)
    policy = VPTPolicy(policy_kwargs=kwargs).to(device)
    policy.train()
    bc = BehaviorCloneCallback(weight=1.0)
    params = list(policy.parameters())
    # MineLightning.configure_optimizers: AdamW(lr, weight_decay); betas/eps are defaults.
    optim = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    memory = policy.initial_state(args.batch)  # list of 3 tensors per block, on the device
    autocast = torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16-mixed"
    )

    emit({
        "ready": True,
        "torch": torch.__version__,
        "minestudio": version("minestudio"),
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in params),
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
    })

    def now():
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter()

    def step(batch_idx):
        nonlocal memory
        # Outside the timed region.
        batch = make_batch(torch, args.batch, args.time, kwargs["img_shape"], device)
        t0 = now()
        with autocast:
            latents, memory_out = policy(batch, memory)
            memory = [m.detach() for m in memory_out]  # MineLightning's tree_detach
            loss = bc(batch, batch_idx, "train", latents, policy)["loss"]
        t1 = now()
        loss.backward()
        t2 = now()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        optim.zero_grad()
        t3 = now()
        if not torch.isfinite(loss):
            raise RuntimeError(f"non-finite loss {loss.item()}")
        return {"forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2, "total": t3 - t0}

    def device_memory():
        return {"device_mib": torch.cuda.max_memory_reserved(device) / 2**20} if cuda else {}

    serve_steps(step, device_memory)


def serve_steps(step, extra=dict):
    """Serves `run N` with N calls of `step(batch_idx)` (each returning its times), the
    batch index counting on across runs; the reply adds the peak RSS and `extra()`."""
    batch_idx = 0

    def run(n):
        nonlocal batch_idx
        steps = []
        for _ in range(n):
            steps.append(step(batch_idx))
            batch_idx += 1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
        return {"steps": steps, "peak_rss_mib": peak, **extra()}

    serve(run)


def serve(run):
    """Answers each `run N` line of stdin with `emit(run(N))` until `quit` or EOF."""
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] != "run" or len(cmd) != 2 or not cmd[1].isdigit():
            raise ValueError(f"unknown command {line.strip()!r} (expected 'run N' or 'quit')")
        emit(run(int(cmd[1])))


def protocol_main(main):
    """Runs a server's `main`, reporting any failure on the protocol (and exiting non-zero)."""
    try:
        main()
    except SystemExit as e:  # argparse's usage errors
        if e.code not in (0, None):
            emit({"error": f"bad arguments (exit {e.code}); usage on stderr"})
        raise
    except Exception as e:  # noqa: BLE001 - report any failure on the protocol
        import traceback

        traceback.print_exc(file=sys.stderr)
        emit({"error": f"{type(e).__name__}: {e}"})
        sys.exit(1)


if __name__ == "__main__":
    protocol_main(main)

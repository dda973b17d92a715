"""Reference benchmark: one MineStudio 1.1.6 (PyTorch) training step of GROOT on the CPU, in
f32 or in bf16 mixed precision: MineStudio's GrootPolicy with its default backbone, timm's
EfficientNet-B0 (`efficientnet_b0.ra_in1k`, built without pretrained weights), on 128x128
frames at the groot example's sizes (hidden 256, one spatial and one temporal posterior
layer, one prior layer, 2 decoder blocks), the sizes `bench --model groot` builds on our side
(`Setup::groot_at`). Run with the interpreter of the venv that `setup.sh` makes:

    python groot_step.py --batch B --time T --memory M [--threads 2] [--precision f32|bf16-mixed]

It speaks vpt_step.py's protocol (JSON lines on stdout). The step follows MineStudio's
MineLightning._batch_step: memory carried (and detached) between steps,
`latents, memory_out = policy(batch, memory)`, the loss from MineStudio's own
BehaviorCloneCallback and KLDivergenceCallback (weight 0.001, MineStudio's GROOT recipe),
backward, global-norm clipping to 1.0, AdamW, zero_grad. Dropout stays on (training mode), as
on our side. All model and loss code that runs is MineStudio's; this file only drives it.
"""

import argparse
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ beside the sources

import vpt_step  # noqa: E402  (the protocol)


def main():
    sys.stdout = sys.stderr  # anything a library prints goes to stderr
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--time", type=int, required=True)
    ap.add_argument("--memory", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["f32", "bf16-mixed"], default="f32")
    args = ap.parse_args()

    import timm
    import torch
    from importlib.metadata import version

    import groot_rocket_train

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    ms = groot_rocket_train.import_minestudio()
    create_model = timm.create_model
    # GrootPolicy asks timm for pretrained weights (no network here): the same architecture
    # without them.
    timm.create_model = lambda name, pretrained=False, **kw: create_model(name, pretrained=False, **kw)
    with contextlib.redirect_stdout(sys.stderr):
        policy = ms.GrootPolicy(
            backbone="efficientnet_b0.ra_in1k",
            freeze_backbone=False,
            hiddim=256,
            video_encoder_kwargs={"num_spatial_layers": 1, "num_temporal_layers": 1, "num_heads": 8, "dropout": 0.1},
            image_encoder_kwargs={"num_layers": 1, "num_heads": 8, "dropout": 0.1},
            decoder_kwargs={"num_heads": 8, "num_layers": 2, "timesteps": args.time, "mem_len": args.memory},
        )
    timm.create_model = create_model
    policy.train()
    objectives = [ms.BehaviorCloneCallback(weight=1.0), ms.KLDivergenceCallback(weight=0.001)]
    params = list(policy.parameters())
    optim = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    memory = policy.initial_state(args.batch)
    autocast = torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16-mixed")

    vpt_step.emit({
        "ready": True,
        "torch": torch.__version__,
        "minestudio": version("minestudio"),
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in params),
        "device": "cpu",
    })

    def step(batch_idx):
        nonlocal memory
        # Outside the timed region.
        batch = vpt_step.make_batch(torch, args.batch, args.time, [128, 128, 3], "cpu")
        t0 = time.perf_counter()
        with autocast:
            latents, memory_out = policy(batch, memory)
            memory = [m.detach() for m in memory_out]
            loss = sum(o(batch, batch_idx, "train", latents, policy)["loss"] for o in objectives)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        optim.zero_grad()
        t3 = time.perf_counter()
        if not torch.isfinite(loss):
            raise RuntimeError(f"non-finite loss {loss.item()}")
        return {"forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2, "total": t3 - t0}

    vpt_step.serve_steps(step)


if __name__ == "__main__":
    vpt_step.protocol_main(main)

"""Golden values for bf16-mixed on a whole policy: MineStudio 1.1.6's tiny VPT (the shared
golden's weights, `../shared/golden/tiny_vpt_weights.safetensors`) on the shared golden's
first batch, its forward and MineStudio's BehaviorCloneCallback under
`torch.autocast("cpu", dtype=torch.bfloat16)` (Lightning's `precision="bf16"`), the backward
outside it: the losses, the value predictions and the gradients' global norm.

Before writing, the same step without autocast must reproduce the shared f32 golden's step 0
(`tiny_vpt_train.json`) within 1e-5: the check that this script builds MineStudio's step as
the golden did. Run with the reference venv (setup.sh), one thread:

    python vpt_bf16_golden.py [SHARED_DIR]   # writes mine-runtime/tests/golden/tiny_vpt_bf16_step0.json
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import load_file

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from vpt_step import import_minestudio  # noqa: E402

torch.set_num_threads(1)
SHARED = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parents[2] / ".." / "shared")
GOLDEN = json.loads((SHARED / "golden" / "tiny_vpt_train.json").read_text())
OUT = HERE.parents[1] / "tests" / "golden" / "tiny_vpt_bf16_step0.json"
LOSSES = ["loss", "camera_loss", "button_loss", "entropy"]


def batch():
    inputs = GOLDEN["inputs"][0]
    long = lambda k: torch.tensor(inputs[k], dtype=torch.long)
    return {
        "image": torch.tensor(inputs["image_uint8_BTHWC"], dtype=torch.uint8),
        "agent_action": {
            "buttons": long("agent_action_buttons"),
            "camera": long("agent_action_camera"),
        },
        "mask": torch.tensor(inputs["mask"], dtype=torch.float32),
    }


def step(bf16):
    VPTPolicy, BehaviorCloneCallback = import_minestudio()
    torch.manual_seed(0)
    policy = VPTPolicy(policy_kwargs=GOLDEN["policy_kwargs"])
    policy.load_state_dict(load_file(str(SHARED / "golden" / "tiny_vpt_weights.safetensors")))
    policy.train()
    data = batch()
    memory = policy.initial_state(data["image"].shape[0])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        latents, _ = policy(data, memory)
        result = BehaviorCloneCallback(weight=1.0)(data, 0, "train", latents, policy)
    result["loss"].backward()
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in policy.parameters()
                          if p.grad is not None))
    return {
        **{k: float(result[k].detach()) for k in LOSSES},
        "vpred": latents["vpred"].float().reshape(-1).tolist(),
        "grad_global_norm": float(norm),
    }


f32 = step(bf16=False)
want = GOLDEN["steps"][0]
for k in LOSSES + ["grad_global_norm"]:
    ref = want[k if k != "grad_global_norm" else "grad_global_norm_before_clip"]
    assert abs(f32[k] - ref) <= 1e-5 * max(1.0, abs(ref)), (k, f32[k], ref)
bf16 = step(bf16=True)
meta = {"minestudio": __import__("importlib.metadata").metadata.version("minestudio"),
        "torch": torch.__version__, "threads": 1,
        "autocast": "torch.autocast('cpu', dtype=torch.bfloat16): forward + BehaviorCloneCallback",
        "inputs": "tiny_vpt_train.json inputs[0], initial memory, tiny_vpt_weights.safetensors"}
OUT.write_text(json.dumps({"meta": meta, "bf16_mixed": bf16, "f32": f32}, indent=1) + "\n")
print(f"wrote {OUT}")
for k in LOSSES + ["grad_global_norm"]:
    print(f"{k}: f32 {f32[k]:.6f}  bf16-mixed {bf16[k]:.6f}  ({abs(bf16[k] / f32[k] - 1):.2e})")

"""Golden values for a VPT whose convolutions reach Winograd F(4x4, 3x3) on CPUs without
AVX-512: MineStudio 1.1.6's tiny VPT (the shared golden's `policy_kwargs`) at 64x64 images
instead of 16x16, so that its ImpalaCNN runs 3x3 convolutions at 64, 32, 16 and 8 pixels (the
16-channel blocks at 32x32 and the 16->32 convolution at 32x32 are the F(4x4, 3x3) shapes).
One f32 step from the initial memory: MineStudio's forward and BehaviorCloneCallback, the
backward, the losses, the value predictions and every parameter's gradient norm, with the
weights and inputs, so that a test needs no Python; and how far MineStudio's own gradient
norms move when every weight is perturbed by a relative 1e-7 or 1e-6 (`meta`).

Before writing, the same code at the shared golden's 16x16 size must reproduce its step 0
(`tiny_vpt_train.json`) within 1e-5: the check that this script builds MineStudio's step as
the golden did. Run with the reference venv (setup.sh), one thread:

    python vpt_64px_golden.py [SHARED_DIR]   # writes mine-runtime/tests/golden/tiny_vpt_64px_*
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import load_file, save_file

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from vpt_step import import_minestudio  # noqa: E402

torch.set_num_threads(1)
SHARED = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parents[2] / ".." / "shared")
GOLDEN = json.loads((SHARED / "golden" / "tiny_vpt_train.json").read_text())
OUT = HERE.parents[1] / "tests" / "golden"
LOSSES = ["loss", "camera_loss", "button_loss", "entropy"]
B, T, SIDE = 2, 4, 64
VPTPolicy, BehaviorCloneCallback = import_minestudio()


def to_batch(inputs):
    long = lambda k: torch.tensor(inputs[k], dtype=torch.long)
    return {
        "image": torch.tensor(inputs["image_uint8_BTHWC"], dtype=torch.uint8),
        "agent_action": {"buttons": long("agent_action_buttons"), "camera": long("agent_action_camera")},
        "mask": torch.tensor(inputs["mask"], dtype=torch.float32),
    }


def step(policy, inputs, perturb=0.0):
    policy.train()
    if perturb:
        # Every parameter times (1 + perturb * N(0, 1)): how much the step moves under
        # float-rounding-sized changes of the weights.
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in policy.parameters():
                p.mul_(1 + perturb * torch.randn(p.shape, generator=g))
    data = to_batch(inputs)
    memory = policy.initial_state(data["image"].shape[0])
    latents, _ = policy(data, memory)
    result = BehaviorCloneCallback(weight=1.0)(data, 0, "train", latents, policy)
    result["loss"].backward()
    norms = {n: float(p.grad.double().norm()) for n, p in policy.named_parameters()
             if p.grad is not None}
    total = sum(v * v for v in norms.values()) ** 0.5
    return {
        "step": 0,
        **{k: float(result[k].detach()) for k in LOSSES},
        "vpred": latents["vpred"].float().reshape(-1).tolist(),
        "grad_global_norm_before_clip": total,
        "param_grad_norms_before_clip": norms,
    }


# The check: the shared golden's step 0 at 16x16 with its weights.
torch.manual_seed(0)
check = VPTPolicy(policy_kwargs=GOLDEN["policy_kwargs"])
check.load_state_dict(load_file(str(SHARED / "golden" / "tiny_vpt_weights.safetensors")))
got, want = step(check, GOLDEN["inputs"][0]), GOLDEN["steps"][0]
for k in LOSSES + ["grad_global_norm_before_clip"]:
    assert abs(got[k] - want[k]) <= 1e-5 * max(1.0, abs(want[k])), (k, got[k], want[k])

kwargs = {**GOLDEN["policy_kwargs"], "img_shape": [SIDE, SIDE, 3]}
torch.manual_seed(64)
policy = VPTPolicy(policy_kwargs=kwargs)
weights = {k: v.detach().contiguous() for k, v in policy.state_dict().items()}
g = torch.Generator().manual_seed(64)
inputs = {
    "image_uint8_BTHWC": torch.randint(0, 256, (B, T, SIDE, SIDE, 3), generator=g).tolist(),
    "agent_action_buttons": torch.randint(0, 8641, (B, T, 1), generator=g).tolist(),
    "agent_action_camera": torch.randint(0, 121, (B, T, 1), generator=g).tolist(),
    "timestamp": [[t + 1 for t in range(T)] for _ in range(B)],
    "mask": [[1.0] * T for _ in range(B)],
}
result = step(policy, inputs)
# The sensitivity of MineStudio's own step: the worst relative change of a parameter's
# gradient norm when every weight moves by a relative 1e-7 or 1e-6 (Winograd's forward error
# is of the second size): the gradients pass through ReLUs and max-pools, whose choices flip.
sensitivity = {}
for eps in [1e-7, 1e-6]:
    torch.manual_seed(64)
    again = VPTPolicy(policy_kwargs=kwargs)
    again.load_state_dict(weights)
    moved = step(again, inputs, perturb=eps)["param_grad_norms_before_clip"]
    want = result["param_grad_norms_before_clip"]
    sensitivity[str(eps)] = max(abs(moved[k] / want[k] - 1) for k in want if want[k] > 0)
meta = {"minestudio": __import__("importlib.metadata").metadata.version("minestudio"),
        "torch": torch.__version__, "threads": 1, "dtype": "float32",
        "procedure": "initial memory; policy(batch, memory); BehaviorCloneCallback(weight=1); "
                     "loss.backward(); gradient norms before clipping",
        "grad_norm_change_under_relative_weight_noise": sensitivity}
save_file(weights, str(OUT / "tiny_vpt_64px_weights.safetensors"))
(OUT / "tiny_vpt_64px_step0.json").write_text(json.dumps(
    {"meta": meta, "policy_kwargs": kwargs, "inputs": [inputs], "steps": [result]}) + "\n")
print(f"wrote {OUT}/tiny_vpt_64px_*: loss {result['loss']:.6f}, "
      f"grad norm {result['grad_global_norm_before_clip']:.6f}, sensitivity {sensitivity}")

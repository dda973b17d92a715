"""Golden reference data for GROOT and ROCKET-1: 3 training steps of two tiny GrootPolicy
networks (a CLIP ViT backbone, and MineStudio's default EfficientNet-B0) and a tiny
RocketPolicy, computed by MineStudio 1.1.6's own model, objective and trainer code
(PyTorch 2.15, CPU, float32, one thread). Run with the interpreter of the venv that
`setup.sh` makes:

    MINE_REFERENCE_VENV=/work/reference-venv bash mine-runtime/examples/reference/setup.sh
    /work/reference-venv/bin/python mine-runtime/examples/reference/groot_rocket_train.py [--out DIR]

DIR defaults to mine-runtime/tests/golden/ (its README.md is not touched). It takes about
10 seconds and rewrites the same bytes on every run (checked on one machine); `--only NAME`
writes one policy's files. Per policy (NAME = groot | groot_efficientnet | rocket) it writes:

  tiny_NAME_weights.safetensors  the policy's state_dict at initialisation (parameters and
                                 buffers, under MineStudio's own names), as safetensors;
  tiny_NAME_after3.safetensors   the same state_dict after the 3 training steps (BatchNorm
                                 running statistics included);
  tiny_NAME_train.json           constructor kwargs, hyper-parameters, the procedure, the
                                 inputs of every step, and per step: learning rate, memory in
                                 and out, latents, every objective's outputs, the summed
                                 loss, per-parameter and global gradient norms before
                                 clipping; then sum/norm of every tensor after 3 steps.

What runs is MineStudio's: GrootPolicy / RocketPolicy (minestudio.models.*.body),
MineLightning._batch_step (memory kept across batches and reset per row at an episode start,
the objectives summed), MineLightning.configure_optimizers (AdamW + the LambdaLR warmup),
BehaviorCloneCallback and KLDivergenceCallback. This file drives them the way Lightning's
automatic optimisation does (forward, zero_grad, backward, clip the global gradient norm to
1.0 as `Trainer(gradient_clip_val=1.0)`, AdamW step, scheduler step), and changes only:

  * timm.create_model: both constructors ask timm for pretrained weights (no network here)
    and for full-size backbones. A stand-in (tiny_create_model) builds the same timm
    architecture with pretrained=False and shrunk sizes (TINY_BACKBONES), keeping the
    model name and so timm's pretrained config (the mean/std the policies normalise with).
  * dropout: GROOT's fuser and ROCKET's pooling are TransformerEncoders with dropout 0.1
    hard-coded; every nn.Dropout and nn.MultiheadAttention dropout in the policy is set to
    0 after construction (listed under "dropout_set_to_zero"), the modules stay in train
    mode otherwise (BatchNorm uses batch statistics, GROOT's LatentSpace samples).
  * torch.randn_like is wrapped while GROOT runs, to record the noise `eps` that
    LatentSpace.sample draws (z = mu + eps * exp(0.5 * log_var)); the JSON has it per step
    (posterior first, then prior) so that a port can feed the same noise.

The script ends by checking itself: a second policy built from another seed loads
tiny_NAME_weights.safetensors, replays the 3 steps with the recorded noise and must
reproduce every recorded loss and the after-3-steps state exactly.
"""

import argparse
import contextlib
import copy
import hashlib
import json
import os
import sys
import types
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT_OUT = os.path.join(REPO, "mine-runtime", "tests", "golden")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the sources

B, T = 2, 4  # batch rows, timesteps per row (= the policies' `timesteps`)
MEM_LEN = 8  # TransformerXL memory: attention_memory_size = mem_len + timesteps
# GROOT's fuser has nhead=8 hard-coded, so hiddim must be a multiple of 8; 8 (head size 1 in
# the fuser, 4 elsewhere) keeps the four safetensors files small: the button head alone is
# 8641 x (hiddim + 1) floats.
HIDDIM = 8
STEPS = 3
POLICIES = ("groot", "rocket", "groot_efficientnet")
INIT_SEED = {"groot": 0, "rocket": 1, "groot_efficientnet": 2}  # policy initialisation
DATA_SEED = {"groot": 42, "rocket": 43, "groot_efficientnet": 44}  # the synthetic batches
NOISE_SEED = 7  # torch's global generator after construction (GROOT's eps)
REPLAY_SEED = 12345  # the self-check's policy is initialised differently, then loaded

# MineLightning's optimiser settings for the golden run (MineStudio's tutorials use
# lr 4e-5, warmup 2000, weight_decay 0.001; larger values make 3 steps visible).
HPARAMS = {
    "learning_rate": 1e-3,
    "warmup_steps": 2,
    "weight_decay": 0.01,
    "grad_clip_norm": 1.0,
}
OBJECTIVE_WEIGHTS = {
    "groot": {"bc_weight": 1.0, "kl_weight": 0.5},
    "groot_efficientnet": {"bc_weight": 1.0, "kl_weight": 0.5},
    "rocket": {"bc_weight": 1.0},
}

# The timm backbones, as MineStudio names them (without the "timm/" hub prefix, which makes
# timm fetch the model config from the Hugging Face Hub even with pretrained=False; the
# built-in name has the same architecture and pretrained config), and the size overrides
# that make them tiny.
TINY_BACKBONES = {
    # GROOT: the backbone of MineStudio's GROOT tutorial config (3_pretrain_groots/
    # groot_config.yaml: 'timm/vit_base_patch32_clip_224.openai'), a CLIP ViT-B/32 image
    # tower. Overrides go through timm's kwargs (the model function merges them).
    "vit_base_patch32_clip_224.openai": {
        "img_size": 16,
        "patch_size": 4,  # a 4x4 token grid (7x7 at full size)
        "embed_dim": 16,
        "depth": 3,  # features_only takes the last 3 blocks by default: depth >= 3
        "num_heads": 2,
    },
    # ROCKET-1: EfficientNet-B0 with 4 input channels (MineStudio's ROCKET-1 docs and
    # tutorial: backbone="efficientnet_b0.ra_in1k"); GROOT's default backbone (3 channels). timm's efficientnet_b0() fixes
    # channel/depth multipliers 1.0, so the stand-in calls the generator it wraps
    # (_gen_efficientnet('efficientnet_b0', ...)) with smaller multipliers: every stage
    # keeps its kernel/stride/expansion/SE layout, with 8..40 channels and 1,1,1,2,2,2,1
    # blocks (1,2,2,3,3,4,1 at full size), so residual (skip) blocks are exercised.
    "efficientnet_b0.ra_in1k": {
        "channel_multiplier": 0.125,
        "depth_multiplier": 0.5,
    },
}

GROOT_KWARGS = {
    "backbone": "vit_base_patch32_clip_224.openai",
    "freeze_backbone": True,
    "hiddim": HIDDIM,
    "video_encoder_kwargs": {"num_spatial_layers": 2, "num_temporal_layers": 2, "num_heads": 2, "dropout": 0.1},
    "image_encoder_kwargs": {"num_layers": 2, "num_heads": 2, "dropout": 0.1},
    "decoder_kwargs": {"num_layers": 2, "timesteps": T, "mem_len": MEM_LEN},
}
# GrootPolicy's default backbone, the rest as GROOT_KWARGS.
GROOT_EFFICIENTNET_KWARGS = {**GROOT_KWARGS, "backbone": "efficientnet_b0.ra_in1k"}
ROCKET_KWARGS = {
    "backbone": "efficientnet_b0.ra_in1k",
    "hiddim": HIDDIM,
    "num_heads": 2,
    "num_layers": 2,
    "timesteps": T,
    "mem_len": MEM_LEN,
}
KWARGS = {"groot": GROOT_KWARGS, "groot_efficientnet": GROOT_EFFICIENTNET_KWARGS, "rocket": ROCKET_KWARGS}
# EfficientNet: 33 -> 17 -> 9 -> 5 -> 3 -> 2x2 final feature map
IMG = {"groot": 16, "rocket": 33, "groot_efficientnet": 33}

# Rows and timestamps per step: row 1's first episode ends with one padded frame at step 1,
# and a new episode starts in row 1 at step 2 (timestamp 0 != 7 + 1: MineLightning resets
# that row's memory to the initial state); row 0 continues throughout.
TIMESTAMPS = [[[0, 1, 2, 3], [0, 1, 2, 3]], [[4, 5, 6, 7], [4, 5, 6, 7]], [[8, 9, 10, 11], [0, 1, 2, 3]]]
MASKS = [[[1, 1, 1, 1], [1, 1, 1, 1]], [[1, 1, 1, 1], [1, 1, 1, 0]], [[1, 1, 1, 1], [1, 1, 1, 1]]]
PROBE_IDX = [0, 1, 2, 3, 59, 60, 61, 500, 1234, 2048, 4095, 4320, 4321, 6000, 8000, 8638, 8639, 8640]


def is_groot(name):
    return name.startswith("groot")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# imports


def import_minestudio():
    """GrootPolicy, RocketPolicy, MineLightning and the two objectives, imported the way
    vpt_step.py does it: the package __init__ of minestudio.models (which also imports
    STEVE-1 and its MineCLIP dependencies) and of minestudio.offline are replaced by empty
    packages pointing at the real directories, so every module runs from MineStudio's own
    files unchanged."""
    import vpt_step

    vpt_step.import_minestudio()
    from minestudio.models.groot_one.body import GrootPolicy
    from minestudio.models.rocket_one.body import RocketPolicy
    from minestudio.offline.mine_callbacks.behavior_clone import BehaviorCloneCallback
    from minestudio.offline.mine_callbacks.kl_divergence import KLDivergenceCallback
    from minestudio.offline.trainer import MineLightning

    return types.SimpleNamespace(
        GrootPolicy=GrootPolicy,
        RocketPolicy=RocketPolicy,
        BehaviorCloneCallback=BehaviorCloneCallback,
        KLDivergenceCallback=KLDivergenceCallback,
        MineLightning=MineLightning,
    )


@contextlib.contextmanager
def tiny_timm(calls):
    """Replace timm.create_model (which both body.py files call as `timm.create_model`)
    for the duration of a policy's construction; record what the policy asked for."""
    import timm
    from timm.models import get_pretrained_cfg
    from timm.models.efficientnet import _gen_efficientnet

    real = timm.create_model

    def tiny_create_model(model_name, pretrained=False, **kwargs):
        calls.append({"model_name": model_name, "pretrained": pretrained, "kwargs": dict(kwargs)})
        if model_name not in TINY_BACKBONES:
            raise KeyError(f"no tiny size for backbone {model_name!r}")
        shrink = TINY_BACKBONES[model_name]
        if model_name.split(".")[0] == "efficientnet_b0":
            return _gen_efficientnet(
                "efficientnet_b0",
                pretrained=False,
                pretrained_cfg=get_pretrained_cfg(model_name),
                **shrink,
                **kwargs,
            )
        return real(model_name, pretrained=False, **shrink, **kwargs)

    timm.create_model = tiny_create_model
    try:
        yield
    finally:
        timm.create_model = real


@contextlib.contextmanager
def record_randn_like(torch, record, replay=None):
    """Wrap torch.randn_like: record every draw (or, with `replay`, return the recorded
    tensors in order instead of drawing)."""
    real = torch.randn_like
    it = iter(replay) if replay is not None else None

    def randn_like(t, *args, **kwargs):
        if it is not None:
            out = next(it).to(dtype=t.dtype).clone()
            assert out.shape == t.shape, (out.shape, t.shape)
        else:
            out = real(t, *args, **kwargs)
        record.append(out.detach().clone())
        return out

    torch.randn_like = randn_like
    try:
        yield
    finally:
        torch.randn_like = real


def zero_dropout(torch, policy):
    changed = []
    for name, m in policy.named_modules():
        if isinstance(m, torch.nn.Dropout) and m.p != 0.0:
            changed.append({"module": name, "type": "Dropout", "p": m.p})
            m.p = 0.0
        if isinstance(m, torch.nn.MultiheadAttention) and m.dropout != 0.0:
            changed.append({"module": name, "type": "MultiheadAttention.dropout", "p": m.dropout})
            m.dropout = 0.0
    return changed


def build_policy(ms, torch, name, seed):
    calls = []
    torch.manual_seed(seed)
    with tiny_timm(calls), contextlib.redirect_stdout(sys.stderr):
        cls = ms.GrootPolicy if is_groot(name) else ms.RocketPolicy
        policy = cls(**copy.deepcopy(KWARGS[name]))
    dropout = zero_dropout(torch, policy)
    return policy, calls, dropout


def make_callbacks(ms, name):
    w = OBJECTIVE_WEIGHTS[name]
    cbs = [ms.BehaviorCloneCallback(weight=w["bc_weight"])]
    if is_groot(name):
        cbs.append(ms.KLDivergenceCallback(weight=w["kl_weight"]))
    return cbs


# ---------------------------------------------------------------------------------------
# inputs


def make_batches(torch, name):
    """Batches as MineStudio's RawDataset + batchify deliver them: uint8 frames (B,T,H,W,3),
    agent_action {buttons, camera} int64 (B,T,1), mask uint8 (B,T) (the action mask),
    timestamp int64 (B,T); ROCKET also gets `segmentation` {obj_mask uint8 (B,T,H,W),
    obj_id int64 (B,T)}. Padded frames look like the reader's padding: zero image and mask,
    buttons 0, camera 0 (the zero-padded env action maps to camera class 60 in real data;
    0 here keeps a padded camera label in the loss path to show that `mask` removes it),
    obj_id 0 (SegmentationKernelCallback pads obj_id with 0, not -1)."""
    import numpy as np

    rng = np.random.RandomState(DATA_SEED[name])
    s = IMG[name]
    batches = []
    for step in range(STEPS):
        image = rng.randint(0, 256, size=(B, T, s, s, 3)).astype(np.uint8)
        buttons = rng.randint(0, 8641, size=(B, T, 1)).astype(np.int64)
        camera = rng.randint(0, 121, size=(B, T, 1)).astype(np.int64)
        # some null-camera labels (class 60, removed from the camera loss by BC's camera_mask)
        camera[0, step % T, 0] = 60
        camera[1, (step + 2) % T, 0] = 60
        mask = np.array(MASKS[step], dtype=np.uint8)
        batch = {
            "image": image,
            "agent_action": {"buttons": buttons, "camera": camera},
            "mask": mask,
            "timestamp": np.array(TIMESTAMPS[step], dtype=np.int64),
        }
        if name == "rocket":
            obj_mask = np.zeros((B, T, s, s), dtype=np.uint8)
            obj_id = np.full((B, T), -1, dtype=np.int64)  # -1: no interaction selected
            for b in range(B):
                for t in range(T):
                    if rng.rand() < 0.75:
                        y0, x0 = rng.randint(0, s - 4, size=2)
                        h, w = rng.randint(3, s // 2, size=2)
                        obj_mask[b, t, y0 : y0 + h, x0 : x0 + w] = 1
                        # SEG_RE_MAP's image: 0, 2, 3, 4, 5, 6 (1 is remapped to 3)
                        obj_id[b, t] = int(rng.choice([0, 2, 3, 4, 5, 6]))
            batch["segmentation"] = {"obj_mask": obj_mask, "obj_id": obj_id}
        for b in range(B):
            for t in range(T):
                if mask[b, t] == 0:
                    batch["image"][b, t] = 0
                    buttons[b, t, 0] = 0
                    camera[b, t, 0] = 0
                    if name == "rocket":
                        batch["segmentation"]["obj_mask"][b, t] = 0
                        batch["segmentation"]["obj_id"][b, t] = 0
        batches.append(batch)
    return batches


def to_torch(torch, tree):
    if isinstance(tree, dict):
        return {k: to_torch(torch, v) for k, v in tree.items()}
    return torch.from_numpy(tree.copy())


# ---------------------------------------------------------------------------------------
# recording helpers


def f32(x):
    """Nested lists of floats: each float32 value as its shortest decimal that reads back
    as the same float32 (numpy's float32 repr), which keeps the JSON small."""
    import numpy as np

    a = x.detach().to("cpu").float().numpy()
    flat = [float(str(v)) for v in a.ravel()]
    return np.array(flat, dtype=object).reshape(a.shape).tolist() if a.ndim else flat[0]


def tensor_entry(t):
    """{shape, dtype, values}; bool as 0/1, floating point as f32()."""
    import torch

    t = t.detach().cpu()
    if t.dtype == torch.bool:
        values = t.to(dtype=torch.uint8).tolist()
    elif t.is_floating_point():
        values = f32(t)
    else:
        values = t.tolist()
    return {"shape": list(t.shape), "dtype": str(t.dtype), "values": values}


def scalar(v):
    if hasattr(v, "item"):
        return v.item()
    return v


def state_stats(state):
    import torch

    out = {}
    for k, v in state.items():
        d = v.detach().double()
        out[k] = {"shape": list(v.shape), "dtype": str(v.dtype), "sum": d.sum().item(), "norm": d.norm().item()}
    return out


def save_state(path, state):
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, path)
    os.chmod(path, 0o644)  # safetensors creates the file 0600


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------------------------------
# the 3 training steps


def train(ms, torch, name, policy, batches, replay_eps=None):
    """3 steps of MineLightning: returns per-step records and the final state_dict."""
    callbacks = make_callbacks(ms, name)
    lm = ms.MineLightning(
        mine_policy=policy,
        callbacks=callbacks,
        hyperparameters={},
        log_freq=1000,
        learning_rate=HPARAMS["learning_rate"],
        warmup_steps=HPARAMS["warmup_steps"],
        weight_decay=HPARAMS["weight_decay"],
    )
    lm.train()
    opt = lm.configure_optimizers()
    optim = opt["optimizer"]
    sched = opt["lr_scheduler"]["scheduler"]
    params = [p for g in optim.param_groups for p in g["params"]]
    named = dict(policy.named_parameters())
    name_of = {id(p): n for n, p in named.items()}

    captured = {}

    def hook(module, args, output):
        captured["memory_in"] = [m.detach().clone() for m in args[1]]
        captured["latents"] = output[0]
        captured["memory_out"] = [m.detach().clone() for m in output[1]]

    feats = {}

    def feat_hook(key):
        def h(module, args, output):
            out = output[-1] if isinstance(output, (list, tuple)) else output
            feats[key] = out.detach().clone()

        return h

    handles = [policy.register_forward_hook(hook)]
    handles.append(policy.backbone.register_forward_hook(feat_hook("backbone_last")))
    handles.append(policy.updim.register_forward_hook(feat_hook("updim")))
    handles.append(policy.pi_head.register_forward_hook(lambda m, a, o: feats.__setitem__("pi_head_input", a[0].detach().clone())))

    torch.manual_seed(NOISE_SEED)
    eps_all = []
    steps = []
    for step, batch_np in enumerate(batches):
        batch = to_torch(torch, batch_np)
        lr = optim.param_groups[0]["lr"]
        eps = []
        replay = None
        if replay_eps is not None:
            replay = [torch.tensor(e, dtype=torch.float32) for e in replay_eps[step]]
        with record_randn_like(torch, eps, replay), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # self.log() without a Trainer
            result = lm._batch_step(batch, step, "train")
        latents = captured["latents"]
        per_objective = []
        with torch.no_grad():
            for cb in callbacks:
                r = cb(batch, step, "train", latents, policy)
                per_objective.append({"callback": type(cb).__name__, **{k: scalar(v) for k, v in r.items()}})

        optim.zero_grad()
        result["loss"].backward()
        grad_norms = {name_of[id(p)]: p.grad.detach().norm().item() for p in params if p.grad is not None}
        no_grad = [name_of[id(p)] for p in params if p.grad is None]
        total = torch.nn.utils.clip_grad_norm_(params, HPARAMS["grad_clip_norm"])
        optim.step()
        sched.step()

        rec = {
            "step": step,
            "lr": lr,
            "result": {k: scalar(v) for k, v in result.items()},
            "objectives": per_objective,
            "grad_global_norm_before_clip": total.item(),
            "memory_in": [tensor_entry(m) for m in captured["memory_in"]],
            "memory_out": [tensor_entry(m) for m in captured["memory_out"]],
        }
        pl = latents["pi_logits"]
        labels = batch["agent_action"]["buttons"]
        rec["vpred"] = f32(latents["vpred"])
        rec["pi_logits_camera"] = f32(pl["camera"])
        rec["pi_logits_buttons_probe_idx"] = PROBE_IDX
        rec["pi_logits_buttons_at_probe"] = f32(pl["buttons"][..., PROBE_IDX])
        rec["pi_logits_buttons_at_label"] = f32(torch.gather(pl["buttons"], -1, labels.unsqueeze(-1)).squeeze(-1))
        rec["pi_logits_buttons_argmax"] = pl["buttons"].argmax(-1).tolist()
        rec["pi_logits_buttons_max"] = f32(pl["buttons"].max(-1).values)
        rec["pi_logits_buttons_logsumexp"] = f32(torch.logsumexp(pl["buttons"].double(), -1))
        if is_groot(name):
            for key in ("posterior_dist", "prior_dist"):
                rec[key] = {k: f32(v) for k, v in latents[key].items()}
            assert len(eps) == 2, f"expected 2 noise draws (posterior, prior), got {len(eps)}"
            rec["eps_posterior"] = f32(eps[0])
            rec["eps_prior"] = f32(eps[1])
        else:
            assert len(eps) == 0, "ROCKET draws no noise"
        eps_all.append([e.tolist() for e in eps])
        rec["pi_head_input"] = f32(feats["pi_head_input"])  # the decoder's output (B,T,hiddim)
        if step == 0:
            rec["backbone_last_feature"] = f32(feats["backbone_last"])  # (B*T, C, h, w)
            rec["updim_output"] = f32(feats["updim"])  # (B*T, hiddim, h, w)
        else:
            for key in ("backbone_last", "updim"):
                d = feats[key].double()
                rec[f"{key}_sum_abs"] = {"shape": list(d.shape), "sum": d.sum().item(), "abs_sum": d.abs().sum().item()}
        rec["param_grad_norms_before_clip"] = grad_norms
        rec["params_without_grad"] = no_grad
        steps.append(rec)

    for h in handles:
        h.remove()
    return steps, {k: v.detach().clone() for k, v in policy.state_dict().items()}, eps_all


# ---------------------------------------------------------------------------------------


def describe_memory(policy):
    init = policy.initial_state(B)
    return [{"shape": list(m.shape), "dtype": str(m.dtype)} for m in init]


def run_policy(ms, torch, name, out):
    from importlib.metadata import version

    policy, calls, dropout = build_policy(ms, torch, name, INIT_SEED[name])
    init_state = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    weights_path = os.path.join(out, f"tiny_{name}_weights.safetensors")
    after_path = os.path.join(out, f"tiny_{name}_after3.safetensors")
    save_state(weights_path, init_state)
    data_cfg = policy.transforms.transforms[1]
    batches = make_batches(torch, name)
    steps, final_state, eps_all = train(ms, torch, name, policy, batches)
    save_state(after_path, final_state)

    kwargs = KWARGS[name]
    inputs = []
    for b in batches:
        entry = {
            "image_uint8_BTHWC": b["image"].tolist(),
            "agent_action_buttons": b["agent_action"]["buttons"].tolist(),
            "agent_action_camera": b["agent_action"]["camera"].tolist(),
            "mask_uint8": b["mask"].tolist(),
            "timestamp": b["timestamp"].tolist(),
        }
        if name == "rocket":
            entry["segmentation_obj_mask_uint8_BTHW"] = b["segmentation"]["obj_mask"].tolist()
            entry["segmentation_obj_id"] = b["segmentation"]["obj_id"].tolist()
        inputs.append(entry)

    n_params = sum(p.numel() for p in policy.parameters())
    n_train = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    doc = {
        "source": (
            f"minestudio=={version('minestudio')} {type(policy).__name__} + MineLightning "
            f"(_batch_step, configure_optimizers) + objectives; timm=={version('timm')}, "
            f"torch {torch.__version__}, float32 CPU, 1 thread"
        ),
        "generator": "mine-runtime/examples/reference/groot_rocket_train.py",
        "weights_file": f"tiny_{name}_weights.safetensors (state_dict at initialisation, parameters + buffers, PyTorch names)",
        "after_file": f"tiny_{name}_after3.safetensors (state_dict after the 3 steps)",
        "policy_class": f"minestudio.models.{'groot_one' if is_groot(name) else 'rocket_one'}.body.{type(policy).__name__}",
        "policy_kwargs": kwargs,
        "backbone": {
            "timm_model_name": kwargs["backbone"],
            "asked_by_minestudio": calls,
            "built_with": {"pretrained": False, **TINY_BACKBONES[kwargs["backbone"]]},
            "timm_class": type(policy.backbone).__name__,
            "feature_info": [dict(f) for f in policy.backbone.feature_info.get_dicts()],
            "used_feature": "backbone(x)[-1] (the last entry of features_only's list)",
            "normalize": {"scale": "x / 255.0", "mean": list(data_cfg.mean), "std": list(data_cfg.std)},
            "frozen": bool(kwargs.get("freeze_backbone", False)),
        },
        "dropout_set_to_zero": dropout,
        "param_count": {"total": n_params, "trainable": n_train},
        "image_size": [IMG[name], IMG[name], 3],
        "memory_layout": {
            "initial_state(B)": describe_memory(policy),
            "per_block": "[mask (B,1,mem_len) bool: which memory slots hold a key/value, keys (B,mem_len,hiddim), values (B,mem_len,hiddim)], blocks in order",
        },
        "hparams": {**HPARAMS, **OBJECTIVE_WEIGHTS[name], "optimizer": "torch.optim.AdamW(lr, weight_decay) with betas (0.9, 0.999), eps 1e-8 (defaults)", "lr_schedule": "LambdaLR: lr = learning_rate * min((step + 1) / warmup_steps, 1), stepped after every optimizer step"},
        "B": B,
        "T": T,
        "seeds": {"init": INIT_SEED[name], "data": DATA_SEED[name], "noise": NOISE_SEED},
        "procedure": [
            "policy.train(); every Dropout p and MultiheadAttention dropout set to 0 (see dropout_set_to_zero)",
            "per step: memory = MineLightning._make_memory(batch): rows with timestamp[:,0] != last_timestamp + 1 are reset to policy.initial_state(B) (last_timestamp starts at 0, so step 0 resets both rows, to the same initial state)",
            "latents, memory_out = policy(batch, memory); MineLightning keeps detach(memory_out) for the next step",
            "result = sum over objectives of their dicts (MineLightning adds equal keys: result['loss'] = sum of the weighted losses)",
            "optimizer.zero_grad(); result['loss'].backward(); clip_grad_norm_(all optimizer params, 1.0) (returns the norm before clipping); AdamW.step(); LambdaLR.step()",
            "AdamW holds ALL policy.parameters(); parameters with requires_grad=False (a frozen backbone) get no grad and are skipped (no weight decay either)",
        ],
        "inputs": inputs,
        "steps": steps,
        "params_after_3_steps": state_stats(final_state),
        "notes": [],
    }
    if is_groot(name):
        doc["notes"] += [
            "GROOT forward (training, no ref_video_path): x = backbone(normalize(image))[-1]; x = updim(x) (1x1 conv with bias) -> (B,T,hiddim,h,w); posterior_dist = video_encoder(x) (per-frame spatial TransformerEncoder over h*w tokens, mean over tokens, temporal TransformerEncoder over T, mean over T, LatentSpace); prior_dist = image_encoder(x[:,0]) (spatial TransformerEncoder of frame 0, mean, LatentSpace); z = posterior z repeated over T",
            "fuser: TransformerEncoder(2 layers, nhead 8, ff 2*hiddim, post-norm, relu) over [h*w image tokens, z] per frame, mean over all h*w+1 tokens; then Decoder: ResidualRecurrentBlocks (VPT TransformerXL blocks, clipped_causal mask, memory mem_len + timesteps), relu, lastlayer (FanInInitReLULayer linear + LayerNorm before it), final_ln; pi_head / value_head on that",
            "LatentSpace in train mode: z = mu + eps * exp(0.5 * log_var), eps ~ randn_like; steps[].eps_posterior / eps_prior are the draws in call order (posterior first); the prior's z is computed but unused",
            "KLDivergenceCallback: KL(q=posterior || p=prior) = -0.5 * sum_d(1 + (q_lv - p_lv) - exp(q_lv - p_lv) - (q_mu - p_mu)^2 / exp(p_lv)), mean over B, times kl_weight",
            "nn.TransformerEncoder deep-copies its layer: all layers of one encoder start with equal weights (irrelevant when loading the weights file)",
        ]
        if name == "groot_efficientnet":
            doc["notes"] += [
                "EfficientNet frozen (freeze_backbone=True: its parameters have requires_grad=False, no gradient, unchanged) but in train mode as in MineStudio's training (GrootPolicy never calls eval() on it and Lightning 2.6 keeps submodule modes): BatchNorm uses the batch statistics over (B*T, h, w) and updates running_mean/running_var (momentum 0.1, unbiased variance) and num_batches_tracked: the after3 file has the updated buffers",
            ]
    else:
        doc["notes"] += [
            "ROCKET forward: rgb = normalize(image / 255) (3 channels); x = cat([rgb, obj_mask as float 0/1, NOT normalised], channel) -> (B*T,4,H,W); feats = backbone(x)[-1]; updim (1x1 conv, no bias); tokens (B*T, h*w, hiddim); pooling TransformerEncoder(2 layers, num_heads, ff 2*hiddim, post-norm, relu), mean over tokens -> (B,T,hiddim)",
            "interaction embedding: y = Embedding(10, hiddim)(obj_id + 1) (obj_id -1 = no object -> row 0); ResidualRecurrentBlocks(inject_condition=True): in each block x = FiLM(pre_r_ln(x), y) before the masked attention: z = ff(y) + y with ff = Sequential(LayerNorm, Linear(h, 2h, no bias), GELU (exact), Linear(2h, h, no bias)) (keys injection.ff.0/.1/.3), gamma, beta = fc(z).chunk(2, -1), x = injection.norm(x * (1 + gamma) + beta)",
            "EfficientNet in train mode: BatchNorm uses the batch statistics over (B*T, h, w) and updates running_mean/running_var (momentum 0.1, unbiased variance) and num_batches_tracked: the after3 file has the updated buffers",
            "the reader pads obj_id with 0 (not -1): padded frames embed row 1",
        ]
    path = os.path.join(out, f"tiny_{name}_train.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    log(f"{name}: {n_params} parameters ({n_train} trainable); losses "
        + ", ".join(f"{s['result']['loss']:.6f}" for s in steps))
    return batches, steps, final_state, eps_all, weights_path


def self_check(ms, torch, name, batches, steps, final_state, eps_all, weights_path):
    from safetensors.torch import load_file

    policy, _, _ = build_policy(ms, torch, name, REPLAY_SEED)
    missing, unexpected = policy.load_state_dict(load_file(weights_path), strict=True)
    steps2, final2, _ = train(ms, torch, name, policy, batches, replay_eps=eps_all)
    for a, b in zip(steps, steps2):
        assert a["result"] == b["result"], (a["result"], b["result"])
        assert a["grad_global_norm_before_clip"] == b["grad_global_norm_before_clip"]
    for k in final_state:
        assert torch.equal(final_state[k], final2[k]), k
    log(f"{name}: replay from {os.path.basename(weights_path)} with the recorded noise reproduces every step exactly")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", choices=POLICIES)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    import torch

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    torch.use_deterministic_algorithms(True)
    ms = import_minestudio()
    for name in POLICIES:
        if args.only and name != args.only:
            continue
        batches, steps, final_state, eps_all, weights_path = run_policy(ms, torch, name, args.out)
        self_check(ms, torch, name, batches, steps, final_state, eps_all, weights_path)
    for f in sorted(os.listdir(args.out)):
        if f.startswith("tiny_"):
            p = os.path.join(args.out, f)
            log(f"  {f}: {os.path.getsize(p)} bytes, sha256 {sha256(p)[:16]}")


if __name__ == "__main__":
    main()

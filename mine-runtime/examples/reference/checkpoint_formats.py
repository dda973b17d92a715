"""Reference checkpoint files in every format a MineStudio 1.1.6 VPT user has, written by
MineStudio's own code (and huggingface_hub, torch, PyTorch Lightning), for the Rust loader's
tests. Run with the interpreter of the venv that `setup.sh` makes:

    MINE_REFERENCE_VENV=/work/reference-venv bash mine-runtime/examples/reference/setup.sh
    /work/reference-venv/bin/python mine-runtime/examples/reference/checkpoint_formats.py [--out DIR]

DIR defaults to mine-runtime/tests/fixtures/checkpoints/ (its README.md is not touched).
Everything is CPU-only, single-threaded and seeded: re-running it rewrites byte-identical
files (checked on one machine; torch.save's `.data/serialization_id` came out the same too).
It takes about 10 seconds. What it writes:

  hf/                    `VPTPolicy(policy_kwargs=MICRO, temperature=2.0).save_pretrained(dir)`
                         (huggingface_hub's PyTorchModelHubMixin: config.json,
                         model.safetensors, README.md), then checked with
                         `VPTPolicy.from_pretrained(dir)` (check_export.load_checked).
  openai/micro.model     the OpenAI VPT release's `.model` layout that MineStudio's
                         `load_vpt_policy(model_path, weights_path)` reads: a plain pickle,
                         ["model"]["args"]["net"]["args"] = policy kwargs and
                         ["model"]["args"]["pi_head_opts"]["temperature"] = 2 (an int, as in
                         the published files); see openai_model_dict for what is confirmed.
  openai/micro.weights   `torch.save(state_dict)` of the same policy as hf/, keys in the order
                         OpenAI's MinecraftAgentPolicy has them (net.*, value_head.*, pi_head.*).
  forward.json           one fixed input (B=1, T=4 uint8 frames 16x16x3, the initial state) and
                         the hf/ policy's forward outputs, as check_export.py prints them.
  lightning/             2 optimizer steps of MineStudio's real offline trainer (MineLightning
                         + BehaviorCloneCallback, SmartCheckpointCallback x2 and EMA as in
                         MineStudio's tutorials) on synthetic batches, starting from
                         `VPTPolicy.from_pretrained(hf/)` like tutorials/offline/1_finetune_vpts.
                         save_freq = 1, so weights/ is written every step and checkpoints/
                         every 2 steps (save_freq + 1, as the tutorials have it); the step-1
                         weights/ files are deleted, leaving what was written at step 2:
    weights/weight-epoch=0-step=2.ckpt, weights/weight-epoch=0-step=2-EMA.ckpt
    checkpoints/ckpt-epoch=0-step=2.ckpt, checkpoints/ckpt-epoch=0-step=2-EMA.ckpt
    expected.safetensors  `raw.<name>` and `ema.<name>`: the policy's raw and EMA weights at
                          the end of training, under the plain VPT state-dict names, taken
                          from the live module and EMA optimizer (not from the files).
  The two full checkpoints (checkpoints/) are re-saved without the AdamW moments of the
  three largest parameters (see trim_full_checkpoint) to keep the fixtures small; all other
  content, including the EMA weights, is what Lightning wrote.

The script also prints, for each torch archive, the top-level keys, the pickle opcodes and
globals of its data.pkl, and checks every file against the live tensors.
"""

import argparse
import collections
import copy
import json
import os
import pickle
import pickletools
import shutil
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT_OUT = os.path.join(REPO, "mine-runtime", "tests", "fixtures", "checkpoints")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the sources

# The golden tiny VPT's kwargs, shrunk: hidsize 8, 2 heads, impala_chans [4, 8], one block.
MICRO = {
    "recurrence_type": "transformer",
    "impala_width": 1,
    "impala_chans": [4, 8],
    "hidsize": 8,
    "img_shape": [16, 16, 3],
    "init_norm_kwargs": {"batch_norm": False, "group_norm_groups": 1},
    "impala_kwargs": {"post_pool_groups": 1},
    "attention_heads": 2,
    "attention_mask_style": "clipped_causal",
    "attention_memory_size": 8,
    "timesteps": 4,
    "n_recurrence_layers": 1,
    "use_pointwise_layer": True,
    "pointwise_ratio": 4,
    "pointwise_use_activation": False,
    "recurrence_is_residual": True,
    "use_pre_lstm_ln": False,
}
TEMPERATURE = 2.0
INIT_SEED = 0  # policy initialisation
INPUT_SEED = 1234  # forward.json's frames
DATA_SEED = 42  # the synthetic training batches
TRAIN_SEED = 7  # Lightning's seed_everything
SAVE_FREQ = 1  # weights/ every SAVE_FREQ steps, checkpoints/ every SAVE_FREQ + 1 (the tutorials')
STEPS = SAVE_FREQ + 1  # so that both save at the last step
BATCH, WIN = 2, 4
EMA_DECAY = 0.9

# Where Lightning writes. ModelCheckpoint stores its (absolute, realpath'ed) dirpath and
# best_model_path inside each checkpoint, so a fixed directory keeps the files independent
# of where the repository is checked out.
RUN_DIR = "/tmp/minestudio-checkpoint-formats"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# imports


def import_minestudio():
    """MineStudio's VPT policy, loader, offline trainer and callbacks, imported the way
    vpt_step.py does it (the package __init__s of minestudio.models / minestudio.offline
    pull in GROOT, ROCKET, STEVE-1 and their timm / MineCLIP dependencies)."""
    import vpt_step

    VPTPolicy, BehaviorCloneCallback = vpt_step.import_minestudio()
    from minestudio.models.vpt.body import load_vpt_policy
    from minestudio.offline.trainer import MineLightning
    from minestudio.offline.lightning_callbacks import EMA, SmartCheckpointCallback
    from minestudio.offline.utils import convert_to_normal

    return types_ns(
        VPTPolicy=VPTPolicy,
        BehaviorCloneCallback=BehaviorCloneCallback,
        load_vpt_policy=load_vpt_policy,
        MineLightning=MineLightning,
        EMA=EMA,
        SmartCheckpointCallback=SmartCheckpointCallback,
        convert_to_normal=convert_to_normal,
    )


def types_ns(**kw):
    import types

    return types.SimpleNamespace(**kw)


def state_equal(a, b):
    import torch

    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------
# 1. Hub directory


def write_hf(ms, out):
    import torch
    import check_export

    hf = os.path.join(out, "hf")
    shutil.rmtree(hf, ignore_errors=True)  # save_pretrained keeps an existing README.md
    torch.manual_seed(INIT_SEED)
    policy = ms.VPTPolicy(policy_kwargs=copy.deepcopy(MICRO), temperature=TEMPERATURE)
    policy.save_pretrained(hf)
    loaded = check_export.load_checked(ms.VPTPolicy, hf)  # from_pretrained + key checks
    assert state_equal(policy.state_dict(), loaded.state_dict())
    assert loaded.pi_head.buttons.temperature == TEMPERATURE, loaded.pi_head.buttons.temperature
    log(f"hf/: {sorted(os.listdir(hf))}; from_pretrained loads it (all keys, same values)")
    return policy


# ---------------------------------------------------------------------------------------
# 2. OpenAI release format

# What the published foundation-model-*.model pickles hold, as far as it could be confirmed:
#  * ["model"]["args"]["net"]["args"] (policy kwargs) and ["model"]["args"]["pi_head_opts"]
#    ["temperature"]: read by OpenAI's run_agent.py / behavioural_cloning.py and MineStudio's
#    load_vpt_policy. OpenAI's code casts the temperature with float(), and third-party dumps
#    show it stored as an int ({'temperature': 1} / 2).
#  * a top-level "version" int, and "function" strings naming OpenAI's internal factories
#    beside the "args": seen in a third-party dump of the released 4x_idm.model
#    ('version': 1361, net 'function': 'ypt.model.inverse_action_model:InverseActionNet',
#    model 'function': 'ypt.model.inverse_action_model:create'), and reported for the
#    foundation models as 'ypt.model.policy:MinecraftPolicy' / 'forc.model.rl.ppo.ppo_policy:create'.
#  * "local_args" beside the net "args": seen only in that IDM dump ({'hidsize': 16,
#    'impala_width': 1}, different from "args"); kept here as a trap for a loader that reads
#    the wrong dict. The version number used here is the IDM's.
# The real foundation files are about 1.9 kB, so they hold more keys than these (not seen).
# Pickle protocol: not confirmed; 4 is Python 3.8+'s default (the 2022 release used Python
# 3.7-3.9), while torch.save's data.pkl uses protocol 2, so the two files cover both.
OPENAI_PROTOCOL = 4


def openai_model_dict():
    return {
        "version": 1361,
        "model": {
            "args": {
                "net": {
                    "args": copy.deepcopy(MICRO),
                    "function": "ypt.model.policy:MinecraftPolicy",
                    "local_args": {"hidsize": 16, "impala_width": 1},
                },
                "pi_head_opts": {"temperature": int(TEMPERATURE)},
            },
            "function": "forc.model.rl.ppo.ppo_policy:create",
        },
    }


def write_openai(ms, policy, out):
    d = os.path.join(out, "openai")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model_path = os.path.join(d, "micro.model")
    weights_path = os.path.join(d, "micro.weights")
    with open(model_path, "wb") as f:
        pickle.dump(openai_model_dict(), f, protocol=OPENAI_PROTOCOL)

    import torch

    # OpenAI's MinecraftAgentPolicy registers net, value_head, pi_head in that order
    # (MineStudio's VPTPolicy: value_head, pi_head, net); keep torch's _metadata.
    sd = policy.state_dict()
    ordered = collections.OrderedDict()
    for prefix in ("net.", "value_head.", "pi_head."):
        for k, v in sd.items():
            if k.startswith(prefix):
                ordered[k] = v
    assert list(sorted(ordered)) == list(sorted(sd))
    ordered._metadata = sd._metadata
    torch.save(ordered, weights_path)

    loaded = ms.load_vpt_policy(model_path=model_path, weights_path=weights_path)
    assert state_equal(policy.state_dict(), loaded.state_dict())
    assert loaded.pi_head.buttons.temperature == TEMPERATURE
    log(f"openai/: load_vpt_policy(micro.model, micro.weights) loads it (temperature {loaded.pi_head.buttons.temperature!r})")
    return loaded


# ---------------------------------------------------------------------------------------
# 4. forward.json


def write_forward(policy, others, out):
    import torch
    import check_export

    g = torch.Generator().manual_seed(INPUT_SEED)
    image = torch.randint(0, 256, (1, WIN, 16, 16, 3), dtype=torch.uint8, generator=g)
    state_in = [s.clone() for s in policy.initial_state(1)]
    doc = check_export.forward_json(policy, image, state_in)
    path = os.path.join(out, "forward.json")
    with open(path, "w", encoding="utf-8") as f:
        check_export.dump_json(doc, f)
    for name, other in others.items():
        assert check_export.forward_json(other, image, state_in) == doc, f"{name}: forward differs"
    shapes = {k: v["shape"] for k, v in doc["output"]["pi_logits"].items()}
    log(f"forward.json: pi_logits {shapes}, vpred {doc['output']['vpred']['shape']}, "
        f"state {[s['shape'] for s in doc['output']['state_out']]}; same for {sorted(others)}")
    return path


# ---------------------------------------------------------------------------------------
# 3. Lightning


def synthetic_loader():
    """A plain torch DataLoader over in-memory samples shaped like MineStudio's raw dataset
    items (minestudio/data/minecraft/dataset_raw.py): uint8 frames, agent_action indices,
    uint8 mask, int64 timestamp, episode / text / progress strings. Two episodes, one per
    batch row, consecutive windows, so MineLightning carries memory across the batches."""
    import torch

    g = torch.Generator().manual_seed(DATA_SEED)
    samples = []
    for b in range(STEPS):
        for row in range(BATCH):
            camera = torch.randint(0, 121, (WIN, 1), generator=g)
            camera[0, 0] = 60  # the null camera bin, masked out by BehaviorCloneCallback
            mask = torch.ones(WIN, dtype=torch.uint8)
            if row == 1 and b == STEPS - 1:
                mask[-1] = 0  # a padded last frame
            samples.append({
                "image": torch.randint(0, 256, (WIN, 16, 16, 3), dtype=torch.uint8, generator=g),
                "agent_action": {
                    "buttons": torch.randint(0, 8641, (WIN, 1), generator=g),
                    "camera": camera,
                },
                "mask": mask,
                "text": "raw",
                "timestamp": torch.arange(b * WIN, (b + 1) * WIN),
                "episode": f"synthetic-{row}",
                "progress": f"{b}/{STEPS}",
            })
    return torch.utils.data.DataLoader(samples, batch_size=BATCH, shuffle=False, num_workers=0)


def hyperparameters(ms):
    """What tutorials/offline/1_finetune_vpts/train_raw.py passes: convert_to_normal(args) of
    its Hydra config (vpt_raw_config.yaml, read from the installed package, minus the hydra
    keys), with this run's values, plus an `ema` block like rocket_config.yaml's."""
    import importlib.util
    from omegaconf import OmegaConf

    root = os.path.dirname(importlib.util.find_spec("minestudio").origin)
    cfg = OmegaConf.load(os.path.join(root, "tutorials", "offline", "1_finetune_vpts", "vpt_raw_config.yaml"))
    for key in [k for k in cfg if str(k).startswith("hydra")]:
        del cfg[key]
    cfg.policy = "hf (VPTPolicy.from_pretrained of this fixture directory)"
    cfg.data = {
        "dataset_dirs": ["synthetic (in-memory, checkpoint_formats.py)"],
        "frame_width": 16,
        "frame_height": 16,
        "win_len": WIN,
        "split_ratio": 1.0,
        "shuffle_episodes": False,
    }
    cfg.batch_size = BATCH
    cfg.num_workers = 0
    cfg.devices = 1
    cfg.precision = "32-true"
    cfg.learning_rate = 1e-2
    cfg.warmup_steps = 2
    cfg.weight_decay = 0.01
    cfg.save_freq = SAVE_FREQ
    cfg.objective_weight = 1.0
    cfg.episode_continuous_batch = True
    cfg.ema = {"decay": EMA_DECAY, "validate_original_weights": False, "every_n_steps": 1, "cpu_offload": False}
    return ms.convert_to_normal(cfg)


def run_lightning(ms, hf_dir, out):
    import lightning as L

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    os.makedirs(RUN_DIR)
    L.seed_everything(TRAIN_SEED, workers=True)
    hp = hyperparameters(ms)

    mine_policy = ms.VPTPolicy.from_pretrained(hf_dir)
    mine_lightning = ms.MineLightning(
        mine_policy=mine_policy,
        log_freq=20,
        learning_rate=hp["learning_rate"],
        warmup_steps=hp["warmup_steps"],
        weight_decay=hp["weight_decay"],
        callbacks=[ms.BehaviorCloneCallback(weight=hp["objective_weight"])],
        hyperparameters=hp,
    )

    final = {}

    class Record(L.Callback):
        """The raw and EMA weights at the end of training, from the live objects."""

        def on_train_end(self, trainer, pl_module):
            (opt,) = trainer.optimizers
            opt.join()  # the CPU EMA update runs in a thread
            params = list(opt.all_parameters())
            named = list(pl_module.mine_policy.named_parameters())
            assert len(params) == len(named) and all(p is q for p, (_, q) in zip(params, named))
            final["raw"] = {k: v.detach().clone() for k, v in pl_module.mine_policy.state_dict().items()}
            final["ema"] = {n: e.detach().clone() for (n, _), e in zip(named, opt.ema_params)}
            final["param_order"] = [n for n, _ in named]
            final["current_step"] = opt.current_step
            assert set(final["ema"]) == set(final["raw"]), "state dict has non-parameter entries"

    callbacks = [
        # Exactly as tutorials/offline/*/main.py and train_raw.py. The +1 is not cosmetic:
        # ModelCheckpoint.state_key is built from monitor, mode and the save intervals (not
        # dirpath), and Lightning refuses two stateful callbacks with the same state_key.
        ms.SmartCheckpointCallback(
            dirpath=os.path.join(RUN_DIR, "weights"), filename="weight-{epoch}-{step}", save_top_k=-1,
            every_n_train_steps=hp["save_freq"], save_weights_only=True,
        ),
        ms.SmartCheckpointCallback(
            dirpath=os.path.join(RUN_DIR, "checkpoints"), filename="ckpt-{epoch}-{step}", save_top_k=1,
            every_n_train_steps=hp["save_freq"] + 1, save_weights_only=False,
        ),
        ms.EMA(
            decay=hp["ema"]["decay"],
            validate_original_weights=hp["ema"]["validate_original_weights"],
            every_n_steps=hp["ema"]["every_n_steps"],
            cpu_offload=hp["ema"]["cpu_offload"],
        ),
        Record(),
    ]
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision=hp["precision"],
        max_steps=STEPS,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
        use_distributed_sampler=False,
        default_root_dir=RUN_DIR,
        callbacks=callbacks,
    )
    trainer.fit(model=mine_lightning, train_dataloaders=synthetic_loader())
    assert trainer.global_step == STEPS and final, (trainer.global_step, bool(final))

    dest = os.path.join(out, "lightning")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(RUN_DIR, dest, ignore=shutil.ignore_patterns("lightning_logs"))
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    # weights/ keeps every save (save_top_k=-1); only the last step's pair is kept here.
    for f in sorted(os.listdir(os.path.join(dest, "weights"))):
        if f"-step={STEPS}" not in f:
            log(f"lightning/weights: deleting the earlier save {f}")
            os.remove(os.path.join(dest, "weights", f))

    from safetensors.torch import save_file

    expected = {f"raw.{k}": v.contiguous() for k, v in final["raw"].items()}
    expected.update({f"ema.{k}": v.contiguous() for k, v in final["ema"].items()})
    # One metadata entry: safetensors writes the metadata map in hash order.
    info = {
        "global_step": STEPS,
        "ema_decay": EMA_DECAY,
        "ema_current_step": final["current_step"],
        "note": "raw.<name> / ema.<name>: MineLightning.mine_policy weights and EMAOptimizer.ema_params at the end of training",
    }
    save_file(expected, os.path.join(dest, "expected.safetensors"), metadata={"info": json.dumps(info, sort_keys=True)})
    diff = max((final["raw"][k] - final["ema"][k]).abs().max().item() for k in final["raw"])
    log(f"lightning/: {STEPS} steps; max |raw - ema| = {diff:.3g}")
    return dest, final


# ---------------------------------------------------------------------------------------
# checks and pickle analysis


def data_pkl(path):
    """(archive member name, bytes) of a torch zip archive's pickle."""
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.endswith("/data.pkl")]
        assert len(names) == 1, names
        return names[0], z.read(names[0]), z.namelist()


def pickle_summary(raw):
    """Protocol, opcode names and globals (module.name) of one pickle stream."""
    protocol = None
    ops = collections.Counter()
    globals_ = collections.Counter()
    strings = []  # recent string pushes, for STACK_GLOBAL (protocol 4+)
    for op, arg, _pos in pickletools.genops(raw):
        ops[op.name] += 1
        if op.name == "PROTO":
            protocol = arg
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "STRING"):
            strings.append(arg)
        elif op.name == "GLOBAL":
            globals_[arg.replace(" ", ".")] += 1
        elif op.name == "STACK_GLOBAL":
            globals_[f"{strings[-2]}.{strings[-1]}"] += 1
    return protocol, ops, globals_


def describe_archive(path):
    import torch

    member, raw, names = data_pkl(path)
    protocol, ops, globals_ = pickle_summary(raw)
    obj = torch.load(path, map_location="cpu", weights_only=False)
    try:
        torch.load(path, map_location="cpu")  # torch >= 2.6 default: weights_only=True
        wo = "loads"
    except Exception as e:  # noqa: BLE001
        wo = f"fails ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
    return {
        "file": path,
        "size": os.path.getsize(path),
        "members": names,
        "data.pkl": member,
        "protocol": protocol,
        "opcodes": dict(sorted(ops.items())),
        "globals": dict(sorted(globals_.items())),
        "top_keys": list(obj.keys()) if isinstance(obj, dict) else type(obj).__name__,
        "weights_only_load": wo,
        "obj": obj,
    }


def check_lightning(ms, dest, final, openai_model):
    import torch

    paths = {
        "weights": os.path.join(dest, "weights", f"weight-epoch=0-step={STEPS}.ckpt"),
        "weights-EMA": os.path.join(dest, "weights", f"weight-epoch=0-step={STEPS}-EMA.ckpt"),
        "full": os.path.join(dest, "checkpoints", f"ckpt-epoch=0-step={STEPS}.ckpt"),
        "full-EMA": os.path.join(dest, "checkpoints", f"ckpt-epoch=0-step={STEPS}-EMA.ckpt"),
    }
    found = sorted(os.path.relpath(os.path.join(r, f), dest) for r, _, fs in os.walk(dest) for f in fs)
    log(f"lightning files: {found}")
    report = {}
    for name, path in paths.items():
        d = describe_archive(path)
        ckpt = d.pop("obj")
        report[name] = d
        sd = ckpt["state_dict"]
        want = final["ema" if name.endswith("EMA") else "raw"]
        plain = {k[len("mine_policy."):]: v for k, v in sd.items()}
        assert all(k.startswith("mine_policy.") for k in sd), list(sd)[:3]
        assert set(plain) == set(want) and all(torch.equal(plain[k], want[k]) for k in want), name
        if name.startswith("full"):
            (osd,) = ckpt["optimizer_states"]
            ema_list = osd["ema"]
            assert len(ema_list) == len(final["param_order"])
            for n, t in zip(final["param_order"], ema_list):
                assert torch.equal(t, final["ema"][n]), (name, n)
            d["ema_container"] = type(ema_list).__name__
            d["ema_element"] = type(ema_list[0]).__name__
            d["optimizer_state_keys"] = list(osd.keys())
            d["opt_keys"] = list(osd["opt"].keys())
            d["param_groups"] = [{k: v for k, v in g.items() if k != "params"} for g in osd["opt"]["param_groups"]]
            d["param_group_params"] = [len(g["params"]) for g in osd["opt"]["param_groups"]]
            d["adam_state_entries"] = len(osd["opt"]["state"])
            first = next(iter(osd["opt"]["state"].values()))
            d["adam_state_fields"] = {k: (type(v).__name__, tuple(v.shape) if hasattr(v, "shape") else v) for k, v in first.items()}
            d["lr_schedulers"] = ckpt["lr_schedulers"]
            d["callbacks"] = ckpt["callbacks"]
            d["loops_keys"] = list(ckpt["loops"].keys())
            d["scalars"] = {k: osd[k] for k in ("current_step", "decay", "every_n_steps")}
        d["hyper_parameters_type"] = type(ckpt["hyper_parameters"]).__module__ + "." + type(ckpt["hyper_parameters"]).__qualname__
        d["hyper_parameters"] = ckpt["hyper_parameters"]
        d["meta"] = {k: ckpt[k] for k in ckpt if k not in ("state_dict", "optimizer_states", "lr_schedulers", "callbacks", "loops", "hyper_parameters")}
        try:
            loaded = ms.load_vpt_policy(model_path=openai_model, weights_path=path)
            ok = state_equal({k: loaded.state_dict()[k] for k in want}, want)
            d["load_vpt_policy"] = "loads" + ("" if ok else " (but values differ!)")
        except Exception as e:  # noqa: BLE001
            d["load_vpt_policy"] = f"fails ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
    return paths, report


def trim_full_checkpoint(path, min_numel=4096):
    """Re-save a full Lightning checkpoint without the AdamW moments (exp_avg, exp_avg_sq) of
    parameters with more than `min_numel` elements: with hidsize 8 the button head
    (8641 x 8 + 8641) and the CNN's dense layer (256 x 128) are 93% of the parameters, and
    their moments would be most of the file. Their entries in optimizer_states[0]["opt"]
    ["state"] are removed; everything else (state_dict, the EMA weights, the other moments,
    param_groups, loops, callbacks, hyper_parameters) is what Lightning wrote, saved again
    with Lightning's own _atomic_save (torch.save into a BytesIO, so the zip members are still
    archive/...; same pickle globals; storage sharing is kept)."""
    import torch
    from lightning.fabric.utilities.cloud_io import _atomic_save

    before = os.path.getsize(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt["optimizer_states"][0]["opt"]["state"]
    dropped = [i for i, s in state.items() if s["exp_avg"].numel() > min_numel]
    for i in dropped:
        del state[i]
    _atomic_save(ckpt, path)
    return dropped, before, os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--report", help="also write the archive analysis as JSON here")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    import torch

    torch.set_num_threads(1)  # as check_export.py: same kernels, same bits
    ms = import_minestudio()
    from importlib.metadata import version

    versions = {p: version(p) for p in ("torch", "minestudio", "huggingface_hub", "safetensors", "lightning", "numpy")}
    log(f"versions: {versions}")

    policy = write_hf(ms, out)
    hf_dir = os.path.join(out, "hf")
    openai_policy = write_openai(ms, policy, out)
    write_forward(policy, {"openai/": openai_policy}, out)
    dest, final = run_lightning(ms, hf_dir, out)
    openai_model = os.path.join(out, "openai", "micro.model")
    paths, report = check_lightning(ms, dest, final, openai_model)

    # The .model pickle and the .weights archive.
    with open(openai_model, "rb") as f:
        raw = f.read()
    protocol, ops, globals_ = pickle_summary(raw)
    report["openai-model"] = {"file": openai_model, "size": len(raw), "protocol": protocol,
                              "opcodes": dict(sorted(ops.items())), "globals": dict(globals_)}
    w = describe_archive(os.path.join(out, "openai", "micro.weights"))
    w.pop("obj")
    report["openai-weights"] = w

    for name in ("full", "full-EMA"):
        dropped, before, after = trim_full_checkpoint(paths[name])
        report[name]["trimmed"] = {"dropped_adam_state_for_param_indices": dropped,
                                   "dropped_params": [final["param_order"][i] for i in dropped],
                                   "size_as_written": before, "size_trimmed": after}
        ckpt = torch.load(paths[name], map_location="cpu", weights_only=False)
        sd = {k[len("mine_policy."):]: v for k, v in ckpt["state_dict"].items()}
        want = final["ema" if name.endswith("EMA") else "raw"]
        assert all(torch.equal(sd[k], want[k]) for k in want)
        assert all(torch.equal(t, final["ema"][n]) for n, t in zip(final["param_order"], ckpt["optimizer_states"][0]["ema"]))
        member, raw2, _ = data_pkl(paths[name])
        assert member == report[name]["data.pkl"], (member, report[name]["data.pkl"])
        assert dict(pickle_summary(raw2)[2]) == report[name]["globals"], "trimming changed the pickle globals"

    report["versions"] = versions
    text = json.dumps(report, indent=1, default=repr)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)
    total = 0
    for r, _, fs in os.walk(out):
        for f in sorted(fs):
            p = os.path.join(r, f)
            total += os.path.getsize(p)
            log(f"{os.path.getsize(p):>9}  {os.path.relpath(p, out)}")
    log(f"{total:>9}  total")


if __name__ == "__main__":
    main()

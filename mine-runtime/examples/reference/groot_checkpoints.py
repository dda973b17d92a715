"""Lightning checkpoints of the tiny golden GROOT, as MineStudio's GROOT pre-training tutorial
(tutorials/offline/3_pretrain_groots) leaves them, for the Rust loader's tests:

    MINE_REFERENCE_VENV=/work/reference-venv bash mine-runtime/examples/reference/setup.sh
    /work/reference-venv/bin/python mine-runtime/examples/reference/groot_checkpoints.py

writes mine-runtime/tests/fixtures/checkpoints/groot/:

  weight-epoch=0-step=3.ckpt      state_dict = the golden initial weights
                                  (tests/golden/tiny_groot_weights.safetensors)
  weight-epoch=0-step=3-EMA.ckpt  its "-EMA" twin: state_dict = the golden weights after 3
                                  steps (tiny_groot_after3.safetensors), standing in for EMA
                                  weights (any other weights than the twin's would do)

Each is the dictionary a weights-only SmartCheckpointCallback makes Lightning write
(epoch, global_step, pytorch-lightning_version, state_dict with MineLightning's
`mine_policy.` prefix in GrootPolicy.state_dict() order, loops, hparams_name,
hyper_parameters), saved with Lightning's own _atomic_save. It is not written by a training
run: `hyper_parameters` is the tutorial's groot_config.yaml (hydra keys removed) whose
`model` is the golden network's GrootPolicy arguments, the backbone given as the table the
Rust loader reads for a resized timm model ({"name": ..., img_size, patch_size, ...}),
because MineStudio's own arguments can only name a full-size timm model. Rerunning writes the
same tensors (the pickles hold no time or path).
"""

import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import groot_rocket_train as grt  # noqa: E402

OUT = os.path.join(grt.REPO, "mine-runtime", "tests", "fixtures", "checkpoints", "groot")
GOLDEN = os.path.join(grt.REPO, "mine-runtime", "tests", "golden")


def hyperparameters():
    """The tutorial's configuration as MineLightning saves it, `model` the golden network."""
    import importlib.util

    from omegaconf import OmegaConf

    root = os.path.dirname(importlib.util.find_spec("minestudio").origin)
    path = os.path.join(root, "tutorials", "offline", "3_pretrain_groots", "groot_config.yaml")
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    for key in [k for k in cfg if str(k).startswith("hydra")]:
        del cfg[key]
    model = dict(grt.GROOT_KWARGS)
    name = model["backbone"]
    model["backbone"] = {"name": name, **grt.TINY_BACKBONES[name]}
    cfg["model"] = model
    return cfg


def lightning_dict(torch, state, hparams):
    import lightning

    return {
        "epoch": 0,
        "global_step": 3,
        "pytorch-lightning_version": lightning.__version__,
        "state_dict": collections.OrderedDict(("mine_policy." + k, v) for k, v in state.items()),
        "loops": {},
        "hparams_name": "hyperparameters",
        "hyper_parameters": hparams,
    }


def main():
    import torch
    from lightning.fabric.utilities.cloud_io import _atomic_save
    from safetensors.torch import load_file

    ms = grt.import_minestudio()
    policy, _, _ = grt.build_policy(ms, torch, "groot", grt.INIT_SEED["groot"])
    order = list(policy.state_dict().keys())
    hparams = hyperparameters()
    os.makedirs(OUT, exist_ok=True)
    for golden, name in [
        ("tiny_groot_weights.safetensors", "weight-epoch=0-step=3.ckpt"),
        ("tiny_groot_after3.safetensors", "weight-epoch=0-step=3-EMA.ckpt"),
    ]:
        weights = load_file(os.path.join(GOLDEN, golden))
        policy.load_state_dict(weights, strict=True)
        state = collections.OrderedDict((k, policy.state_dict()[k]) for k in order)
        path = os.path.join(OUT, name)
        _atomic_save(lightning_dict(torch, state, hparams), path)
        os.chmod(path, 0o644)
        grt.log(f"{name}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()

"""Checks that MineStudio 1.1.6 loads a GROOT exported by this program (`mine-export`, or
`GrootPolicy::export_minestudio`): `GrootPolicy.from_pretrained(DIR)` builds the network from
DIR/config.json, and DIR/model.safetensors holds exactly its state dict (no missing,
unexpected, mis-shaped or mis-typed tensor, which from_pretrained itself would ignore or cast):

    /work/reference-venv/bin/python mine-runtime/examples/reference/check_groot_export.py DIR

timm.create_model is replaced while the policy is built, as in groot_rocket_train.py: no
pretrained weights are downloaded (the export's own replace them), and a backbone that the
export describes as a table ({"name": ..., "img_size": ..., ...}: a resized timm model, which
MineStudio's own arguments cannot express) is built as that model with those arguments.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import groot_rocket_train as grt  # noqa: E402


def main():
    import timm
    import torch
    from safetensors.torch import load_file

    directory = sys.argv[1]
    ms = grt.import_minestudio()
    real = timm.create_model

    def create_model(backbone, pretrained=False, **kwargs):
        if isinstance(backbone, dict):
            args = dict(backbone)
            return real(args.pop("name"), pretrained=False, **args, **kwargs)
        return real(backbone, pretrained=False, **kwargs)

    timm.create_model = create_model
    try:
        policy = ms.GrootPolicy.from_pretrained(directory)
    finally:
        timm.create_model = real
    state = load_file(os.path.join(directory, "model.safetensors"))
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and (state[k].shape != expected[k].shape or state[k].dtype != expected[k].dtype)]
    assert not (missing or unexpected or wrong), (missing, unexpected, wrong)
    different = [k for k in expected if not torch.equal(state[k], expected[k])]
    assert not different, f"from_pretrained did not load {different}"
    print(f"OK: GrootPolicy.from_pretrained({directory}) loads all {len(expected)} tensors exactly")


if __name__ == "__main__":
    main()

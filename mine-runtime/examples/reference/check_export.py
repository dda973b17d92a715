"""Prove that MineStudio 1.1.6 loads a VPT Hub directory unchanged, and print its forward pass.

Run with the interpreter of the venv that `setup.sh` makes:

    python check_export.py DIR INPUT_JSON > out.json

DIR is a Hugging Face Hub style directory (config.json + model.safetensors, as
`VPTPolicy.save_pretrained` writes it, or as the Rust side exports a trained policy).
INPUT_JSON is a file in the layout of tests/fixtures/checkpoints/forward.json; only its
"input" part is read (image uint8 [B, T, H, W, 3] and the recurrent state "state_in"; without
"state_in", the policy's own initial state).

The directory is loaded with MineStudio's own, unchanged `VPTPolicy.from_pretrained(DIR)`
(huggingface_hub's PyTorchModelHubMixin: local directory, no network). That loader is not
strict (safetensors `load_model(strict=False)` ignores missing and unexpected keys and
casts dtypes silently), so this script checks the file itself first and exits non-zero,
with a message on stderr, when:
  * config.json or model.safetensors is missing, or config.json has no "policy_kwargs";
  * model.safetensors has keys the policy lacks, lacks keys the policy has, or a tensor
    whose shape or dtype differs from the policy's;
  * from_pretrained raises, warns, or logs a warning (huggingface_hub's logger);
  * the loaded weights are not bit-for-bit the file's.

With `--expect OURS.json` (our side's outputs, e.g. from `cargo run --release -p mine-runtime
--example forward_json -- DIR INPUT_JSON`), it also compares pi_logits and vpred with MineStudio's
and exits 1 when any value differs by more than 1e-5 (relative to max(1, |value|)).

stdout carries only the JSON (same layout as forward.json: {"input": ..., "output": ...});
everything a library prints goes to stderr. Floats are written as the shortest decimal
that round-trips the float32 value (parse them as f32 to get the exact bits back).
"""

import json
import logging
import os
import sys
import warnings

OUT = sys.stdout  # the JSON channel; main() points sys.stdout at stderr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the sources


class CheckError(Exception):
    """A loading problem, reported as 'check_export: ...' and exit status 1."""


# ---------------------------------------------------------------------------------------
# tensors <-> JSON


def f32_list(t):
    """A float tensor as a flat list of Python floats, each the shortest decimal that
    round-trips the float32 value (numpy's unique repr), so JSON stays small and exact."""
    a = t.detach().to("cpu").contiguous().float().numpy().reshape(-1)
    return [float(str(x)) for x in a]  # str(np.float32) is the shortest round-trip repr


def tensor_json(t):
    import torch

    if t.dtype == torch.bool:
        data = [bool(x) for x in t.reshape(-1).tolist()]
        dtype = "bool"
    elif t.dtype == torch.uint8:
        data = [int(x) for x in t.reshape(-1).tolist()]
        dtype = "uint8"
    elif t.dtype == torch.float32:
        data = f32_list(t)
        dtype = "float32"
    else:
        raise TypeError(f"no JSON layout for dtype {t.dtype}")
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def tensor_from_json(obj):
    import torch

    dtypes = {"bool": torch.bool, "uint8": torch.uint8, "float32": torch.float32}
    t = torch.tensor(obj["data"], dtype=dtypes[obj["dtype"]])
    return t.reshape(obj["shape"])


def forward_json(policy, image, state_in):
    """MineStudio's VPTPolicy.forward on (image, state_in), in forward.json's layout."""
    import torch

    policy.eval()
    with torch.no_grad():
        latents, state_out = policy({"image": image}, [s.clone() for s in state_in])
    pi = latents["pi_logits"]
    return {
        "input": {
            "image": tensor_json(image),
            "state_in": [tensor_json(s) for s in state_in],
        },
        "output": {
            "pi_logits": {"buttons": tensor_json(pi["buttons"]), "camera": tensor_json(pi["camera"])},
            "vpred": tensor_json(latents["vpred"]),
            "state_out": [tensor_json(s) for s in state_out],
        },
    }


def dump_json(obj, fp):
    """One fixed formatting for forward.json and this script's output (so `cmp` works)."""
    json.dump(obj, fp, separators=(",", ":"))
    fp.write("\n")


# ---------------------------------------------------------------------------------------
# loading


def load_checked(VPTPolicy, directory):
    """VPTPolicy.from_pretrained(directory), unchanged, after checking that it would load
    every tensor of model.safetensors into a parameter of the same name, shape and dtype."""
    import torch
    from safetensors import safe_open

    if not os.path.isdir(directory):
        raise CheckError(f"{directory}: not a directory")
    config_path = os.path.join(directory, "config.json")
    weights_path = os.path.join(directory, "model.safetensors")
    for path in (config_path, weights_path):
        if not os.path.isfile(path):
            raise CheckError(
                f"{path} is missing (from_pretrained on a local directory reads only "
                "config.json and model.safetensors)"
            )
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict) or "policy_kwargs" not in config:
        raise CheckError(f"{config_path}: no 'policy_kwargs' (not a VPTPolicy config): {config!r}")

    with safe_open(weights_path, framework="pt") as f:
        file_tensors = {k: f.get_tensor(k) for k in f.keys()}

    # MineStudio's loader, exactly as a user calls it; warnings and hub log records fail.
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect(level=logging.WARNING)
    hub_logger = logging.getLogger("huggingface_hub")
    hub_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                policy = VPTPolicy.from_pretrained(directory)
            except Exception as e:  # noqa: BLE001 - any failure is the answer
                raise CheckError(f"VPTPolicy.from_pretrained({directory!r}) failed: {type(e).__name__}: {e}") from e
    finally:
        hub_logger.removeHandler(handler)
    problems = [f"warning: {w.category.__name__}: {w.message}" for w in caught]
    problems += [f"huggingface_hub log: {r.getMessage()}" for r in records]

    model_state = policy.state_dict()
    missing = sorted(set(model_state) - set(file_tensors))
    unexpected = sorted(set(file_tensors) - set(model_state))
    if missing:
        problems.append(f"{len(missing)} missing keys (in the policy, not in the file): {missing}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (in the file, not in the policy): {unexpected}")
    for k in sorted(set(model_state) & set(file_tensors)):
        want, got = model_state[k], file_tensors[k]
        if tuple(want.shape) != tuple(got.shape) or want.dtype != got.dtype:
            problems.append(
                f"{k}: file has {got.dtype} {tuple(got.shape)}, policy wants {want.dtype} {tuple(want.shape)}"
            )
        elif not torch.equal(want, got):
            problems.append(f"{k}: loaded values differ from the file's")
    if problems:
        raise CheckError(f"{directory} does not load cleanly into MineStudio's VPTPolicy:\n  " + "\n  ".join(problems))
    return policy


def main():
    sys.stdout = sys.stderr  # anything a library prints goes to stderr
    argv = sys.argv[1:]
    expect = None
    if len(argv) == 4 and argv[2] == "--expect":
        expect = argv[3]
        argv = argv[:2]
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        print("usage: python check_export.py DIR INPUT_JSON [--expect OURS.json]", file=sys.stderr)
        return 2
    directory, input_path = argv

    import torch
    import vpt_step

    torch.set_num_threads(1)  # as checkpoint_formats.py: same kernels, same bits
    VPTPolicy, _ = vpt_step.import_minestudio()
    with open(input_path, encoding="utf-8") as f:
        inp = json.load(f)["input"]
    image = tensor_from_json(inp["image"])
    policy = load_checked(VPTPolicy, directory)
    if "state_in" in inp:
        state_in = [tensor_from_json(s) for s in inp["state_in"]]
    else:
        state_in = policy.initial_state(image.shape[0])
    result = forward_json(policy, image, state_in)
    dump_json(result, OUT)
    OUT.flush()
    if expect is not None:
        compare(result["output"], expect)
    return 0


def compare(theirs, expect_path):
    """Checks our outputs (expect_path) against MineStudio's within 1e-5."""
    with open(expect_path, encoding="utf-8") as f:
        ours = json.load(f)["output"]
    pairs = [
        ("pi_logits.buttons", ours["pi_logits"]["buttons"], theirs["pi_logits"]["buttons"]),
        ("pi_logits.camera", ours["pi_logits"]["camera"], theirs["pi_logits"]["camera"]),
        ("vpred", ours["vpred"], theirs["vpred"]),
    ]
    for name, a, b in pairs:
        if a["shape"] != b["shape"]:
            raise CheckError(f"{name}: shape {a['shape']} (ours) vs {b['shape']} (MineStudio)")
        worst = max(abs(x - y) / max(1.0, abs(y)) for x, y in zip(a["data"], b["data"]))
        print(f"{name}: max relative difference {worst:.3g}", file=sys.stderr)
        if worst > 1e-5:
            raise CheckError(f"{name} differs from MineStudio by {worst:.3g} (> 1e-5)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckError as e:
        print(f"check_export: {e}", file=sys.stderr)
        sys.exit(1)

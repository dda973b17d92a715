"""A small MineStudio-format dataset with the segmentation modality and an events LMDB,
written by MineStudio 1.1.6's own converters, plus `expected.json`: what MineStudio's own
readers return for it. Run with the interpreter of the venv that `setup.sh` makes:

    MINE_REFERENCE_VENV=/work/reference-venv bash mine-runtime/examples/reference/setup.sh
    /work/reference-venv/bin/python mine-runtime/examples/reference/segmentation_fixture.py [--out DIR]

DIR defaults to mine-runtime/tests/fixtures/minestudio-seg/ (its README.md is kept; the
modality folders, event/ and expected.json are replaced). It takes about 15 seconds.

1. Synthetic source recordings (in a temporary directory, not kept): 3 contractor-style
   segments of 2 episodes, each as MineStudio's converters expect them after contractor
   pre-processing: `actions/<seg>.pkl` (dict of numpy arrays, the 21 action keys),
   `privileged_infos/<seg>.pkl` (list of per-frame dicts with an `events` dict),
   `videos/<seg>.mp4` (640x360, 20 fps, written with MineStudio's write_video) and
   `segment/<seg>.rle` (the segmentation pickle, RLE masks encoded with MineStudio's own
   SegmentationKernelCallback.rle_encode). See SEGMENTS for the episodes, no-op frames,
   interactions and events.
2. Conversion with MineStudio's ConvertManager (prepare_tasks + dispatch) and
   Image/Action/MetaInfo/SegmentationConvertCallback, chunk size 32, 2 workers, every
   modality filtered by ActionConvertCallback (frames whose action is a no-op are dropped
   from all modalities alike; SegmentationConvertCallback needs this filter: it iterates the
   skip flags). Then the events LMDB with MineStudio's tools/event_convertion.main.
3. Read back with MineStudio's SegmentationKernelCallback (+ KernelManager, RawDataset,
   EventKernel, EventDataset) into expected.json.

Stand-ins, none of which changes what is computed:
  * `ray`: convertion.py imports it at module level and runs ConvertWorker as ray actors.
    The stand-in runs the same actor code in this process (`X.remote(...)` constructs or
    calls directly, `ray.get` returns the values), one worker after the other.
  * `albumentations`: callbacks/image.py imports it for enable_video_aug, which is off here.
  * `ipdb`: tools/event_convertion.main does `import ipdb` (unused).
  * ActionConvertCallback.__init__ in 1.1.6 calls `super().__init__(**kwargs)` without the
    base class's required input_dirs/chunk_size, so constructing it raises TypeError; the
    object is made with ModalConvertCallback.__init__ plus the one extra attribute its own
    __init__ sets (make_action_convert_callback).
"""

import argparse
import contextlib
import hashlib
import json
import os
import pickle
import pickletools
import random
import shutil
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT_OUT = os.path.join(REPO, "mine-runtime", "tests", "fixtures", "minestudio-seg")
sys.dont_write_bytecode = True

CHUNK = 32
NUM_WORKERS = 2
SRC_W, SRC_H = 640, 360
FPS = 20
MODALITIES = ["image", "action", "meta_info", "segmentation"]  # folder names (by stem)
ACTION_KEYS = ["back", "drop", "forward"] + [f"hotbar.{i}" for i in range(1, 10)] + [
    "inventory", "jump", "left", "right", "sneak", "sprint", "camera", "attack", "use"]

OAK = "minecraft.mine_block:minecraft.oak_log"
STONE = "minecraft.mine_block:minecraft.stone"
ZOMBIE = "minecraft.kill_entity:minecraft.zombie"
BUCKET = "minecraft.use_item:minecraft.bucket"
TABLE = "minecraft.craft_item:minecraft.crafting_table"
FLINT = "minecraft.use_item:minecraft.flint_and_steel"
JUMP = "minecraft.custom:minecraft.jump"

# Raw obj_id values are interaction types (MineStudio's ROCKET tools: Hunt 0, Use 1, Mine 2,
# Interact 3, Craft 4, Switch 5, Approach 6); the reader remaps them with SEG_RE_MAP
# (1 -> 3, the rest unchanged).
# Interactions: id, event, obj_id, raw frame range [a, b] (the frames annotated, minus
# `gaps`), mask shape and its motion, point ('centroid' or None).
SEGMENTS = {
    # episode "alpha-otter-0123456789ab-20230105-100000": two segments merged into one
    "alpha-otter-0123456789ab-20230105-100000": {
        "frames": 140,
        "noop": [10, 11, 12, 57, 90, 131],
        "interactions": [
            {"id": 0, "event": OAK, "obj_id": 2, "range": [20, 45], "shape": "rect",
             "rect0": [100, 250, 60, 80], "rect1": [140, 330, 90, 100], "point": "centroid"},
            {"id": 1, "event": BUCKET, "obj_id": 1, "range": [50, 70], "gaps": [60, 61, 62], "shape": "rect",
             "rect0": [200, 100, 40, 40], "rect1": [180, 160, 60, 50], "point": "centroid"},
            {"id": 2, "event": ZOMBIE, "obj_id": 0, "range": [100, 139], "shape": "corner",
             "rect0": [330, 610, 30, 30], "rect1": [250, 500, 110, 140], "point": None},
        ],
        "events": [(5, JUMP, 1), (6, JUMP, 1), (30, JUMP, 1), (45, OAK, 1), (70, BUCKET, 1), (139, ZOMBIE, 1)],
    },
    "alpha-otter-0123456789ab-20230105-100600": {
        "frames": 110,
        "noop": [0, 1, 50],
        "interactions": [
            {"id": 3, "event": STONE, "obj_id": 2, "range": [5, 30], "shape": "rect",
             "rect0": [150, 400, 50, 50], "rect1": [120, 380, 90, 90], "point": "centroid"},
            {"id": 4, "event": TABLE, "obj_id": 4, "range": [40, 60], "shape": "band",
             "rect0": [300, 0, 12, SRC_W], "rect1": [290, 0, 20, SRC_W], "point": "centroid"},
            {"id": 5, "event": OAK, "obj_id": 2, "range": [70, 95], "shape": "topleft",
             "rect0": [0, 0, 40, 70], "rect1": [0, 0, 90, 120], "point": "centroid"},
        ],
        "events": [(10, JUMP, 1), (12, JUMP, 1), (30, STONE, 1), (40, JUMP, 1), (60, TABLE, 1),
                   (85, OAK, 1), (88, OAK, 2)],
    },
    # episode "beta-heron-ba9876543210-20230210-200000"
    "beta-heron-ba9876543210-20230210-200000": {
        "frames": 200,
        "noop": [3, 100, 101, 150],
        "interactions": [
            {"id": 0, "event": ZOMBIE, "obj_id": 0, "range": [10, 40], "shape": "rect",
             "rect0": [120, 300, 80, 60], "rect1": [100, 280, 120, 90], "point": "centroid"},
            # two interactions that end on the same frame: the reader picks one at random
            {"id": 1, "event": OAK, "obj_id": 2, "range": [130, 160], "shape": "rect",
             "rect0": [60, 60, 50, 40], "rect1": [80, 90, 70, 60], "point": "centroid"},
            {"id": 2, "event": FLINT, "obj_id": 6, "range": [140, 160], "shape": "rect",
             "rect0": [220, 420, 40, 90], "rect1": [200, 400, 70, 120], "point": "centroid"},
            {"id": 3, "event": TABLE, "obj_id": 5, "range": [170, 190], "shape": "rect",
             "rect0": [160, 250, 30, 30], "rect1": [150, 240, 50, 50], "point": "centroid"},
        ],
        "events": [(40, ZOMBIE, 1), (130, STONE, 1), (131, STONE, 1), (135, OAK, 1), (160, OAK, 1),
                   (190, TABLE, 1), (60, JUMP, 1)],
    },
}

# Readers for expected.json.
SEG_SIZE = (224, 224)  # SegmentationKernelCallback(frame_width, frame_height): ROCKET-1's
SMALL_SIZE = (56, 40)  # 640/56 and 360/40 are not integers: pins cv2's nearest-neighbour rule
EVENT_CONFIGS = [
    {"name": "mine_w32", "event_regex": "minecraft.mine_block:.*", "win_len": 32, "bias": 0,
     "min_nearby": None, "max_within": None, "split": "train", "split_ratio": 1.0, "skip_frame": 1},
    {"name": "mine_w32_val", "event_regex": "minecraft.mine_block:.*", "win_len": 32, "bias": 0,
     "min_nearby": None, "max_within": None, "split": "val", "split_ratio": 0.5, "skip_frame": 1},
    {"name": "mine_nearby_within", "event_regex": "minecraft.mine_block:.*", "win_len": 16, "bias": 1,
     "min_nearby": 10, "max_within": 2, "split": "train", "split_ratio": 1.0, "skip_frame": 1},
    {"name": "all_bias_neg", "event_regex": ".*", "win_len": 24, "bias": -8,
     "min_nearby": None, "max_within": None, "split": "train", "split_ratio": 1.0, "skip_frame": 1},
    {"name": "custom_nearby", "event_regex": "minecraft.custom:.*", "win_len": 8, "bias": 4,
     "min_nearby": 5, "max_within": None, "split": "train", "split_ratio": 1.0, "skip_frame": 1},
    {"name": "oak_past_end", "event_regex": ".*oak_log", "win_len": 16, "bias": 10,
     "min_nearby": None, "max_within": None, "split": "train", "split_ratio": 1.0, "skip_frame": 1},
    {"name": "stone_clamped", "event_regex": "minecraft.mine_block:minecraft.stone", "win_len": 64, "bias": -80,
     "min_nearby": None, "max_within": None, "split": "train", "split_ratio": 1.0, "skip_frame": 1},
    {"name": "craft_skip2", "event_regex": "minecraft.craft_item:.*", "win_len": 16, "bias": 0,
     "min_nearby": None, "max_within": None, "split": "train", "split_ratio": 1.0, "skip_frame": 2},
]
DIRECT_READS = [
    # KernelManager.read(..., event_constrain=...): the only way to reach do_merge's
    # event_constrain branch (the datasets never pass it). The two beta reads cover the
    # frames where two interactions end together (without a constraint: a random pick).
    {"episode": "alpha-otter-0123456789ab-20230105-100000", "start": 96, "win_len": 32, "skip_frame": 1,
     "event_constrain": "kill_entity:zombie"},
    {"episode": "beta-heron-ba9876543210-20230210-200000", "start": 128, "win_len": 32, "skip_frame": 1,
     "event_constrain": "use_item:flint_and_steel"},
    {"episode": "beta-heron-ba9876543210-20230210-200000", "start": 128, "win_len": 32, "skip_frame": 1,
     "event_constrain": "mine_block:oak_log"},
]
SMALL_FULL_SAMPLES = [3, 11]  # RawDataset(win_len=32) items whose masks are stored in full at SMALL_SIZE


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# imports and stand-ins


def install_stand_ins():
    ray = types.ModuleType("ray")

    class _Handle:
        def __init__(self, obj):
            self._obj = obj

        def __getattr__(self, name):
            return types.SimpleNamespace(remote=getattr(self._obj, name))

    class _ActorClass:
        def __init__(self, cls):
            self.cls = cls

        def remote(self, *args, **kwargs):
            return _Handle(self.cls(*args, **kwargs))

    def remote(*args, **kwargs):
        if len(args) == 1 and not kwargs and callable(args[0]):
            return _ActorClass(args[0])
        return _ActorClass

    ray.remote = remote
    ray.get = lambda refs: list(refs) if isinstance(refs, list) else refs
    ray.kill = lambda handle: None
    ray.init = lambda *a, **k: None
    experimental = types.ModuleType("ray.experimental")
    tqdm_ray = types.ModuleType("ray.experimental.tqdm_ray")

    class tqdm:
        def __init__(self, *args, **kwargs):
            self.n = 0

        def update(self, n=1):
            self.n += n

    tqdm_ray.tqdm = tqdm
    ray.experimental = experimental
    experimental.tqdm_ray = tqdm_ray

    class _Missing(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            raise RuntimeError(f"{self.__name__}.{name}: not installed in the reference venv (stand-in)")

    sys.modules.update({
        "ray": ray,
        "ray.experimental": experimental,
        "ray.experimental.tqdm_ray": tqdm_ray,
        "albumentations": _Missing("albumentations"),
        "ipdb": types.ModuleType("ipdb"),
    })


def import_minestudio_data():
    install_stand_ins()
    from minestudio.data.minecraft.callbacks import (
        ActionConvertCallback, ActionKernelCallback, ImageConvertCallback, MetaInfoConvertCallback,
        MetaInfoKernelCallback, SegmentationConvertCallback, SegmentationKernelCallback)
    from minestudio.data.minecraft.callbacks.callback import ModalConvertCallback
    from minestudio.data.minecraft.callbacks import segmentation as segmentation_module
    from minestudio.data.minecraft.core import KernelManager
    from minestudio.data.minecraft.dataset_event import EventDataset, EventKernel
    from minestudio.data.minecraft.dataset_raw import RawDataset
    from minestudio.data.minecraft.tools import event_convertion
    from minestudio.data.minecraft.tools.convertion import ConvertManager
    from minestudio.data.minecraft.utils import write_video

    return types.SimpleNamespace(**{k: v for k, v in locals().items()})


def make_action_convert_callback(ms, input_dirs):
    """ActionConvertCallback(input_dirs, chunk_size) raises TypeError in MineStudio 1.1.6
    (see the module docstring): same object, built without the broken super() call."""
    cb = ms.ActionConvertCallback.__new__(ms.ActionConvertCallback)
    ms.ModalConvertCallback.__init__(cb, input_dirs=input_dirs, chunk_size=CHUNK)
    cb.action_transformer_kwargs = dict()
    return cb


# ---------------------------------------------------------------------------------------
# 1. source recordings


def lerp_rect(inter, f):
    a, b = inter["range"]
    s = 0.0 if b == a else (f - a) / (b - a)
    y0, x0, h0, w0 = inter["rect0"]
    y1, x1, h1, w1 = inter["rect1"]
    y = round(y0 + (y1 - y0) * s)
    x = round(x0 + (x1 - x0) * s)
    h = round(h0 + (h1 - h0) * s)
    w = round(w0 + (w1 - w0) * s)
    return y, x, h, w


def object_mask(np, inter, f):
    m = np.zeros((SRC_H, SRC_W), dtype=np.uint8)
    y, x, h, w = lerp_rect(inter, f)
    if inter["shape"] == "corner":  # grows from the bottom-right corner (last pixel set)
        m[SRC_H - h:, SRC_W - w:] = 1
    elif inter["shape"] == "topleft":  # includes pixel 0 (RLE start 1)
        m[:h, :w] = 1
    elif inter["shape"] == "band":  # full-width rows: one run across row ends
        m[y:y + h, :] = 1
    else:
        m[y:y + h, x:x + w] = 1
        # a notch, so that masks are not plain rectangles
        m[y + h // 3:y + h // 2, x + w // 3:x + w // 2] = 0
    return m


COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 255)]


def annotated(inter, f):
    a, b = inter["range"]
    return a <= f <= b and f not in inter.get("gaps", [])


def write_sources(ms, np, src):
    rle = ms.SegmentationKernelCallback().rle_encode  # MineStudio's own encoder
    for d in ("actions", "privileged_infos", "videos", "segment"):
        os.makedirs(os.path.join(src, d), exist_ok=True)
    for seg_i, (seg, spec) in enumerate(SEGMENTS.items()):
        n = spec["frames"]
        rng = np.random.RandomState(100 + seg_i)
        # actions: never a no-op except on spec["noop"] frames
        act = {k: np.zeros((n, 2) if k == "camera" else (n,), dtype=np.float64 if k == "camera" else np.int64)
               for k in ACTION_KEYS}
        for f in range(n):
            if f in spec["noop"]:
                continue
            r = f % 4
            if r == 0:
                act["forward"][f] = 1
            elif r == 1:
                act["camera"][f] = [round(rng.uniform(-3, 3), 2), round(rng.uniform(-5, 5), 2)]
            elif r == 2:
                act["attack"][f] = 1
                act["forward"][f] = 1
            else:
                act["jump"][f] = int(rng.rand() < 0.5)
                act["camera"][f] = [0.0, 1.5]
        with open(os.path.join(src, "actions", f"{seg}.pkl"), "wb") as fh:
            pickle.dump(act, fh)
        # meta info: a few fields and the per-frame `events` dict the event converter reads
        events = {}
        for f, ev, val in spec["events"]:
            events.setdefault(f, {})[ev] = val
        meta = [{"yaw": round(0.5 * f, 3), "pitch": round(-0.1 * f, 3), "hotbar": f % 9, "events": events.get(f, {})}
                for f in range(n)]
        with open(os.path.join(src, "privileged_infos", f"{seg}.pkl"), "wb") as fh:
            pickle.dump(meta, fh)
        # segmentation source: video_annos[frame] = [key, ...]; rle_mask_mapping[key] = {...}
        # key = (interaction id, event, frame): MineStudio reads key[0] and key[1] (the
        # interaction it belongs to); the third element only makes keys unique per frame.
        video_annos, mapping = {}, {}
        for inter in spec["interactions"]:
            for f in range(inter["range"][0], inter["range"][1] + 1):
                if not annotated(inter, f):
                    continue
                m = object_mask(np, inter, f)
                key = (inter["id"], inter["event"], f)
                point = None
                if inter["point"] == "centroid":
                    ys, xs = np.nonzero(m)
                    point = (int(round(ys.mean())), int(round(xs.mean())))  # (row, col) in 360x640
                mapping[key] = {
                    "obj_id": inter["obj_id"],
                    "rle_mask": rle(m),
                    "event": inter["event"],
                    "point": point,
                    "frame_range": tuple(inter["range"]),
                }
                video_annos.setdefault(f, []).append(key)
        with open(os.path.join(src, "segment", f"{seg}.rle"), "wb") as fh:
            pickle.dump({"video_annos": video_annos, "rle_mask_mapping": mapping}, fh)
        # video: background by episode/frame, the annotated objects drawn in their colour
        frames = []
        for f in range(n):
            img = np.zeros((SRC_H, SRC_W, 3), dtype=np.uint8)
            img[..., 0] = 30 + 40 * seg_i
            img[..., 1] = 60 + (f * 3) % 120
            img[..., 2] = 110
            for inter in spec["interactions"]:
                if annotated(inter, f):
                    img[object_mask(np, inter, f) == 1] = COLORS[inter["obj_id"]]
            frames.append(img)
        with contextlib.redirect_stdout(sys.stderr):
            ms.write_video(os.path.join(src, "videos", f"{seg}.mp4"), frames, width=SRC_W, height=SRC_H, fps=FPS)


def raw_to_converted():
    """For the README/expected: raw frame -> frame index in the converted episode."""
    out = {}
    for eps in episodes_of_segments():
        k = 0
        for seg in eps["segments"]:
            spec = SEGMENTS[seg]
            for f in range(spec["frames"]):
                if f in spec["noop"]:
                    continue
                out[(seg, f)] = k
                k += 1
    return out


def episodes_of_segments():
    eps = {}
    for seg in SEGMENTS:
        base, part = seg.rsplit("-", 1)
        eps.setdefault(base, []).append(seg)
    out = []
    for base, segs in eps.items():
        out.append({"episode": segs[0], "segments": segs})
    return out


# ---------------------------------------------------------------------------------------
# 2. conversion


def convert(ms, src, out):
    action_filter = make_action_convert_callback(ms, [os.path.join(src, "actions")])
    kernels = {
        "image": ms.ImageConvertCallback(input_dirs=[os.path.join(src, "videos")], chunk_size=CHUNK),
        "action": make_action_convert_callback(ms, [os.path.join(src, "actions")]),
        "meta_info": ms.MetaInfoConvertCallback(input_dirs=[os.path.join(src, "privileged_infos")], chunk_size=CHUNK),
        "segmentation": ms.SegmentationConvertCallback(input_dirs=[os.path.join(src, "segment")], chunk_size=CHUNK),
    }
    for name, kernel in kernels.items():
        manager = ms.ConvertManager(
            output_dir=os.path.join(out, name),
            convert_kernel=kernel,
            filter_kernel=action_filter,
            chunk_size=CHUNK,
            num_workers=NUM_WORKERS,
        )
        with contextlib.redirect_stdout(sys.stderr):
            manager.prepare_tasks()
            manager.dispatch()
    with contextlib.redirect_stdout(sys.stderr):
        ms.event_convertion.main(argparse.Namespace(input_dir=out))


# ---------------------------------------------------------------------------------------
# 3. reading back


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def pickle_info(data):
    ops, globals_ = [], []
    proto = None
    for op, arg, _ in pickletools.genops(data):
        if op.name == "PROTO":
            proto = arg
        if op.name not in ops:
            ops.append(op.name)
        if op.name in ("GLOBAL", "STACK_GLOBAL"):
            globals_.append(arg)
    return {"protocol": proto, "opcodes": sorted(ops), "has_globals": bool(globals_) or "STACK_GLOBAL" in ops}


def jsonable(x):
    import numpy as np

    if isinstance(x, dict):
        return {(k if isinstance(k, str) else repr(k)): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    return x


def describe_lmdb(path, modality, rle_decode):
    import lmdb
    import numpy as np

    env = lmdb.open(path, readonly=True, lock=False)
    entry = {"files": {f: os.path.getsize(os.path.join(path, f)) for f in sorted(os.listdir(path))}}
    with env.begin() as txn:
        keys = [k.decode() for k, _ in txn.cursor()]
        entry["keys"] = keys
        if modality == "event":
            entry["values"] = {}
            entry["pickles"] = {}
            for k in keys:
                raw = txn.get(k.encode())
                entry["values"][k] = jsonable(pickle.loads(raw))
                entry["pickles"][k] = {"hex": raw.hex(), **pickle_info(raw)} if k.startswith("__") else pickle_info(raw)
            env.close()
            return entry
        meta = {}
        for k in ("__chunk_size__", "__chunk_infos__", "__num_episodes__", "__num_total_frames__"):
            meta[k] = pickle.loads(txn.get(k.encode()))
        entry["meta"] = meta
        chunks = {}
        for k in keys:
            if k.startswith("__"):
                continue
            raw = txn.get(k.encode())
            c = {"nbytes": len(raw), "sha256": sha256_bytes(raw)}
            if modality == "segmentation":
                c["pickle"] = pickle_info(raw)
                frames = []
                for frame in pickle.loads(raw):
                    fr = []
                    for key, val in frame.items():
                        mask = rle_decode(val["rle_mask"], (360, 640))
                        fr.append({
                            "key": jsonable(list(key)),
                            "obj_id": val["obj_id"],
                            "event": val["event"],
                            "point": jsonable(val["point"]),
                            "ori_frame_id": val["ori_frame_id"],
                            "ori_frame_range": jsonable(val["ori_frame_range"]),
                            "frame_id": val["frame_id"],
                            "frame_range": jsonable(val["frame_range"]),
                            "value_keys": list(val.keys()),
                            "rle_mask_len": len(val["rle_mask"]),
                            "rle_mask_sha256": sha256_bytes(val["rle_mask"].encode()),
                            "rle_mask_head": " ".join(val["rle_mask"].split()[:6]),
                            "decoded_360x640_sum": int(mask.sum()),
                            "decoded_360x640_sha256": sha256_bytes(np.ascontiguousarray(mask).tobytes()),
                        })
                    frames.append(fr)
                c["frames"] = frames
            elif modality == "meta_info":
                c["events"] = [jsonable(f.get("events")) for f in pickle.loads(raw)]
            chunks[k] = c
        entry["chunks"] = chunks
    env.close()
    return entry


def summarize_seg(seg, with_rows=False):
    """A `segmentation` dict of one sample (torch tensors / lists) -> JSON."""
    import numpy as np

    out = {}
    mask = seg["obj_mask"].numpy() if hasattr(seg["obj_mask"], "numpy") else seg["obj_mask"]
    mask = np.ascontiguousarray(mask)
    out["obj_mask"] = {
        "shape": list(mask.shape),
        "dtype": str(mask.dtype),
        "frame_sum": [int(m.sum()) for m in mask],
        # sha256 of the frame's uint8 bytes (C order); null for an all-zero frame
        "frame_sha256": [sha256_bytes(m.tobytes()) if m.any() else None for m in mask],
    }
    if with_rows:
        out["obj_mask"]["rows"] = [
            None if m.sum() == 0 else ["".join(str(int(v)) for v in row) for row in m] for m in mask
        ]
    for k in ("obj_id", "point", "frame_id", "frame_range"):
        v = seg[k]
        arr = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
        out[k] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "data": arr.tolist()}
    out["event"] = list(seg["event"])
    return out


def to_np(v):
    return v.numpy() if hasattr(v, "numpy") else v


def summarize_item(item, with_rows=False):
    out = {}
    for k, v in item.items():
        if k == "segmentation":
            out[k] = summarize_seg(v, with_rows)
        elif k == "agent_action":
            out[k] = {kk: {"dtype": str(to_np(vv).dtype), "data": to_np(vv).reshape(-1).tolist()} for kk, vv in v.items()}
        elif k == "env_action":
            continue  # covered by ../../../shared/fixtures/minestudio-tiny's expected.json
        elif hasattr(v, "numpy") or hasattr(v, "dtype"):
            a = to_np(v)
            out[k] = {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.tolist()}
        else:
            out[k] = v
    return out


def seg_diff(first, last):
    """The `segmentation` fields that differ when random.choice picks the last candidate
    (obj_mask without its full rows)."""
    a, b = first["segmentation"], last["segmentation"]
    out = {}
    for k in b:
        if a[k] != b[k]:
            out[k] = {kk: vv for kk, vv in b[k].items() if kk != "rows"} if k == "obj_mask" else b[k]
    return out


def release():
    """py-lmdb refuses to open an environment that is already open in the process, and
    MineStudio's readers keep theirs open: the caller drops its reader, this collects it
    (closing its environments) before the next one is built."""
    import gc

    gc.collect()


@contextlib.contextmanager
def choice_variant(ms, variant):
    """Replace segmentation.py's `random` with one whose choice() takes the first or the
    last candidate (the candidates are the frame dict's keys in stored order)."""
    real = ms.segmentation_module.random
    if variant is None:
        yield
        return
    fake = types.SimpleNamespace(choice=(lambda seq: seq[0]) if variant == "first" else (lambda seq: seq[-1]))
    ms.segmentation_module.random = fake
    try:
        yield
    finally:
        ms.segmentation_module.random = real


def read_expected(ms, np, out):
    rle_decode = ms.SegmentationKernelCallback().rle_decode
    exp = {}

    # lmdb level
    exp["lmdb"] = {}
    for mod in MODALITIES:
        for part in sorted(os.listdir(os.path.join(out, mod))):
            exp["lmdb"][f"{mod}/{part}"] = describe_lmdb(os.path.join(out, mod, part), mod, rle_decode)
    exp["lmdb"]["event"] = describe_lmdb(os.path.join(out, "event"), "event", rle_decode)

    # episodes per modality
    episodes = {}
    for mod in MODALITIES:
        for part in sorted(os.listdir(os.path.join(out, mod))):
            for ci in exp["lmdb"][f"{mod}/{part}"]["meta"]["__chunk_infos__"]:
                episodes.setdefault(ci["episode"], {})[mod] = {
                    "lmdb": f"{mod}/{part}", "episode_idx": ci["episode_idx"], "num_frames": ci["num_frames"]}
    exp["episodes"] = episodes

    # nearest-neighbour index tables of cv2.resize (INTER_NEAREST) from 640x360
    exp["resize_nearest_index"] = {}
    for w, h in (SEG_SIZE, SMALL_SIZE):
        import cv2

        cols = np.tile(np.arange(SRC_W, dtype=np.uint16), (SRC_H, 1))
        rows = np.tile(np.arange(SRC_H, dtype=np.uint16)[:, None], (1, SRC_W))
        exp["resize_nearest_index"][f"{w}x{h}"] = {
            "src_col_for_dst_col": cv2.resize(cols, (w, h), interpolation=cv2.INTER_NEAREST)[0].tolist(),
            "src_row_for_dst_row": cv2.resize(rows, (w, h), interpolation=cv2.INTER_NEAREST)[:, 0].tolist(),
        }

    # RawDataset with segmentation
    def raw_dataset(win_len, size):
        with contextlib.redirect_stdout(sys.stderr):
            return ms.RawDataset(
                dataset_dirs=[out],
                modal_kernel_callbacks=[ms.ActionKernelCallback(),
                                        ms.SegmentationKernelCallback(frame_width=size[0], frame_height=size[1])],
                win_len=win_len, skip_frame=1, split="train", split_ratio=1.0, shuffle_episodes=False, verbose=False)

    exp["datasets"] = {}
    for name, win_len, size, rows_for in (
        ("raw_w32_224", 32, SEG_SIZE, ()),
        ("raw_w20_224", 20, SEG_SIZE, ()),
        ("raw_w32_small", 32, SMALL_SIZE, SMALL_FULL_SAMPLES),
    ):
        ds = raw_dataset(win_len, size)
        entry = {
            "class": "RawDataset",
            "params": {"win_len": win_len, "skip_frame": 1, "split": "train", "split_ratio": 1.0,
                       "shuffle_episodes": False,
                       "callbacks": ["ActionKernelCallback()",
                                     f"SegmentationKernelCallback(frame_width={size[0]}, frame_height={size[1]})"]},
            "len": len(ds),
            "episodes_with_length": [[k, v] for k, v in ds.episodes_with_length.items()],
            "items": [list(ds.locate_item(i)) for i in range(len(ds))],
            "samples": [],
        }
        if name == "raw_w32_small":
            entry["samples_stored"] = list(rows_for)
        for i in range(len(ds)):
            if name == "raw_w32_small" and i not in rows_for:
                continue
            variants = {}
            for variant in ("first", "last"):
                with choice_variant(ms, variant):
                    variants[variant] = summarize_item(ds[i], with_rows=i in rows_for)
            random.seed(0)
            actual = summarize_item(ds[i], with_rows=i in rows_for)
            assert actual in (variants["first"], variants["last"]), f"{name}[{i}]: random pick is neither"
            s = dict(variants["first"], index=i)
            if variants["first"] != variants["last"]:
                s["segmentation_if_random_choice_picks_last"] = seg_diff(variants["first"], variants["last"])
            entry["samples"].append(s)
        exp["datasets"][name] = entry
        ds = None
        release()

    # direct KernelManager reads with event_constrain
    with contextlib.redirect_stdout(sys.stderr):
        km = ms.KernelManager(dataset_dirs=[out], modal_kernel_callbacks=[
            ms.SegmentationKernelCallback(frame_width=SEG_SIZE[0], frame_height=SEG_SIZE[1])], verbose=False)
    exp["direct_reads"] = []
    for r in DIRECT_READS:
        res = km.read(r["episode"], start=r["start"], win_len=r["win_len"], skip_frame=r["skip_frame"],
                      event_constrain=r["event_constrain"])
        exp["direct_reads"].append({
            "params": r,
            "call": "KernelManager([SegmentationKernelCallback(224, 224)]).read(episode, start, win_len, skip_frame, event_constrain=...)",
            "segmentation": summarize_seg(res["segmentation"]),
            "segmentation_mask": res["segmentation_mask"].tolist(),
        })
    km = None
    release()

    # event datasets
    exp["event_datasets"] = {}
    for cfg in EVENT_CONFIGS:
        with contextlib.redirect_stdout(sys.stderr):
            ds = ms.EventDataset(
                dataset_dirs=[out],
                modal_kernel_callbacks=[ms.ActionKernelCallback(),
                                        ms.SegmentationKernelCallback(frame_width=SEG_SIZE[0], frame_height=SEG_SIZE[1])],
                win_len=cfg["win_len"], skip_frame=cfg["skip_frame"], split=cfg["split"],
                split_ratio=cfg["split_ratio"], verbose=False, bias=cfg["bias"],
                event_regex=cfg["event_regex"], min_nearby=cfg["min_nearby"], max_within=cfg["max_within"])
        kern = ds.event_kernel.event_kernels[0]
        entry = {
            "class": "EventDataset",
            "params": {k: v for k, v in cfg.items() if k != "name"},
            "callbacks": ["ActionKernelCallback()", "SegmentationKernelCallback(frame_width=224, frame_height=224)"],
            "event_list": ds.event_list,
            "event_sizes_after_filter": {e: ds.event_kernel.get_event_size(e) for e in ds.event_list},
            "remaining_events": kern.remaining_events,
            "items_table": [list(x) for x in ds.items],
            "len": len(ds),
            "items": [],
            "samples": [],
        }
        for i in range(len(ds)):
            event, rel = ds.locate_item(i)
            episode, t, value = ds.event_kernel.get_event_item(event, rel)
            start = max(t - cfg["win_len"] + cfg["bias"], 0)
            entry["items"].append({"index": i, "event": event, "relative_idx_with_split_bias": rel,
                                   "episode": episode, "event_time": t, "value": value, "start": start})
            variants = {}
            for variant in ("first", "last"):
                with choice_variant(ms, variant):
                    variants[variant] = summarize_item(ds[i])
            s = dict(variants["first"], index=i)
            if variants["first"] != variants["last"]:
                s["segmentation_if_random_choice_picks_last"] = seg_diff(variants["first"], variants["last"])
            entry["samples"].append(s)
        exp["event_datasets"][cfg["name"]] = entry
        ds = kern = None
        release()
    return exp


# ---------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--keep-src", help="also keep the synthetic source recordings in this directory")
    args = ap.parse_args()
    out = os.path.abspath(args.out)

    import numpy as np
    from importlib.metadata import version

    ms = import_minestudio_data()
    os.makedirs(out, exist_ok=True)
    for d in MODALITIES + ["event"]:
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)

    with tempfile.TemporaryDirectory() as tmp:
        src = args.keep_src or os.path.join(tmp, "src")
        write_sources(ms, np, src)
        convert(ms, src, out)

    exp = {
        "generator": {
            "script": "mine-runtime/examples/reference/segmentation_fixture.py",
            "versions": {p: version(p) for p in ("minestudio", "numpy", "av", "lmdb", "opencv-python-headless", "torch")},
            "python": sys.version.split()[0],
            "chunk_size": CHUNK,
            "num_workers": NUM_WORKERS,
            "source_frame_size": [SRC_W, SRC_H],
            "segments": {
                seg: {"frames": s["frames"], "noop_frames_dropped": s["noop"],
                      "interactions": [{k: v for k, v in i.items()} for i in s["interactions"]],
                      "events": [list(e) for e in s["events"]]}
                for seg, s in SEGMENTS.items()
            },
            "episodes": episodes_of_segments(),
            "raw_frame_to_converted": {f"{seg}:{f}": k for (seg, f), k in raw_to_converted().items()
                                       if any(f in (i["range"][0], i["range"][1]) for i in SEGMENTS[seg]["interactions"])
                                       or any(f == e[0] for e in SEGMENTS[seg]["events"])},
        },
    }
    exp.update(read_expected(ms, np, out))
    with open(os.path.join(out, "expected.json"), "w") as fh:
        json.dump(exp, fh, separators=(",", ":"))
        fh.write("\n")
    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    log(f"wrote {out}: {total} bytes; expected.json {os.path.getsize(os.path.join(out, 'expected.json'))} bytes")


if __name__ == "__main__":
    main()

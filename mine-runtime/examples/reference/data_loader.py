"""Reference benchmark: MineStudio 1.1.6's own data loader on a MineStudio-format dataset
(H.264 image chunks + actions): decode, resize to 128x128 and batch, as its training run
would feed a policy. Run with the interpreter of the venv that `setup.sh` makes:

    python data_loader.py --dataset DIR [--workers 2] [--batch 8] [--win-len 16] [--size 128]

The loader is what MineStudio's RawDataModule(episode_continuous_batch=True) builds in
`train_dataloader()` (called here; only its `setup()` is replaced, see build_loader):
RawDataset(split="train", split_ratio=1.0, win_len) over
ImageKernelCallback(size, size, enable_video_aug=False) and ActionKernelCallback(), a
MineDistributedBatchSampler (one episode per batch row, window after window), batchify,
`--workers` worker processes, prefetch_factor None (PyTorch's 2 per worker), pin_memory
(off on a machine without an accelerator: PyTorch warns and skips it). The module is
MineStudio's own, built with Lightning installed; nothing here decodes or batches.

Protocol (stdout carries JSON lines only; everything else goes to stderr):
  -> {"ready": true, "torch": ..., "minestudio": ..., "av": ..., "cv2": ..., "workers": W,
      "items": I, "batches_per_epoch": N}
  <- "run N"   -> {"frames": F, "seconds": S, "peak_rss_mib": M, "workers_peak_rss_mib": W,
                   "pss_mib": P, "cpu_seconds": C}
  <- "quit" or EOF: exit.      Any failure: {"error": "..."} and a non-zero exit.

`run N` starts a new epoch (`iter(loader)` forks the workers, as every epoch of a
MineStudio run does: its DataModule does not ask for persistent workers), takes its first N
batches (fewer if the epoch is shorter) and stops it; `seconds` runs from `iter()` to the
N-th batch in hand. Memory: `peak_rss_mib` is this process's VmHWM; `workers_peak_rss_mib`
the sum of the worker processes' VmHWM, read from /proc after the N-th batch while they
still run (forked workers share the parent's pages, which each VmHWM counts again);
`pss_mib` the proportional set size of this process plus its workers at that moment (shared
pages split between them, so the sum does not double count). `cpu_seconds`: user + system
time of this process over the round plus the workers' (/proc/<pid>/stat; forked at `iter()`,
all their time is the round's).
"""

import argparse
import contextlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from vpt_step import emit, protocol_main, serve  # noqa: E402 - the protocol's loop (stdout JSON lines)


def proc_kib(pid, path, field):
    """A `field:  N kB` line of /proc/<pid>/<path>, in KiB."""
    with open(f"/proc/{pid}/{path}") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/{path} has no {field} line")


def cpu_seconds(pid):
    """User + system CPU seconds of a live process (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name, field 3 on
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_loader(args):
    """MineStudio's RawDataModule with episode-continuous batching, set up; its train loader."""
    from segmentation_fixture import import_minestudio_data

    import_minestudio_data()  # the stand-ins for ray / albumentations / ipdb, then the data modules
    from minestudio.data.minecraft.callbacks import ActionKernelCallback, ImageKernelCallback
    from minestudio.data.minecraft.dataset_raw import RawDataModule, RawDataset

    module = RawDataModule(
        data_params=dict(
            dataset_dirs=[args.dataset],
            modal_kernel_callbacks=[
                ImageKernelCallback(frame_width=args.size, frame_height=args.size, enable_video_aug=False),
                ActionKernelCallback(),
            ],
            win_len=args.win_len,
            split_ratio=1.0,
            shuffle_episodes=False,
        ),
        batch_size=args.batch,
        num_workers=args.workers,
        prefetch_factor=None,
        episode_continuous_batch=True,
    )
    # RawDataModule.setup() also opens the val split, a second RawDataset whose KernelManager
    # opens the same LMDB environments again, which py-lmdb refuses ("already open in this
    # process"); the train split is what setup() would make of it.
    module.train_dataset = RawDataset(split="train", **module.data_params)
    return module.train_dataset, module.train_dataloader()


def check_batch(batch, args):
    """The batch is what a policy gets: uint8 frames (B, T, H, W, 3) and the actions."""
    want = (args.batch, args.win_len, args.size, args.size, 3)
    image = batch["image"]
    if tuple(image.shape) != want or str(image.dtype) != "torch.uint8":
        raise RuntimeError(f"MineStudio's batch image is {tuple(image.shape)} {image.dtype}, expected {want} uint8")
    camera = batch["agent_action"]["camera"]
    if tuple(camera.shape[:2]) != want[:2]:
        raise RuntimeError(f"MineStudio's batch agent_action.camera is {tuple(camera.shape)}, expected {want[:2]}+")


def run_round(loader, n, args):
    """Starts an epoch, takes its first `n` batches, reads the memory figures, stops it."""
    start, cpu = time.perf_counter(), cpu_seconds("self")
    it = iter(loader)
    frames = 0
    for _ in range(n):
        try:
            batch = next(it)
        except StopIteration:
            break
        if frames == 0:
            check_batch(batch, args)
        frames += batch["image"].shape[0] * batch["image"].shape[1]
    seconds = time.perf_counter() - start
    workers = [w.pid for w in getattr(it, "_workers", [])]
    if args.workers and len(workers) != args.workers:
        raise RuntimeError(f"found {len(workers)} worker processes, expected {args.workers}")
    reply = {
        "frames": frames,
        "seconds": seconds,
        "peak_rss_mib": proc_kib("self", "status", "VmHWM") / 1024,
        "workers_peak_rss_mib": sum(proc_kib(p, "status", "VmHWM") for p in workers) / 1024,
        "pss_mib": sum(proc_kib(p, "smaps_rollup", "Pss") for p in ["self", *workers]) / 1024,
        "cpu_seconds": cpu_seconds("self") - cpu + sum(cpu_seconds(p) for p in workers),
    }
    del it  # shuts the workers down
    return reply


def main():
    sys.stdout = sys.stderr  # anything a library prints goes to stderr
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True, help="a MineStudio dataset directory (image/, action/)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--win-len", type=int, default=16)
    ap.add_argument("--size", type=int, default=128, help="frame width and height")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.dataset, "image")):
        raise RuntimeError(f"--dataset {args.dataset}: no image/ folder there (a MineStudio dataset directory?)")

    import cv2
    import torch
    from importlib.metadata import version

    with contextlib.redirect_stdout(sys.stderr):
        dataset, loader = build_loader(args)
    emit({
        "ready": True,
        "torch": torch.__version__,
        "minestudio": version("minestudio"),
        "av": version("av"),
        "cv2": cv2.__version__,
        "workers": args.workers,
        "items": len(dataset),
        "batches_per_epoch": len(loader),
    })
    serve(lambda n: run_round(loader, n, args))


if __name__ == "__main__":
    protocol_main(main)

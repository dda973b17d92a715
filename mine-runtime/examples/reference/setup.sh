#!/usr/bin/env bash
# Throwaway virtual environment for the Python reference scripts beside this file
# (vpt_step.py, checkpoint_formats.py, check_export.py, groot_rocket_train.py,
# segmentation_fixture.py): MineStudio 1.1.6 on PyTorch 2.15.0 (the versions the project's
# golden data came from), CPU only. Everything is installed with --no-deps, and only what
# `import torch`, MineStudio's VPT / GROOT / ROCKET-1 policies + objectives, its Lightning
# trainer + checkpoint/EMA callbacks, the Hub save/load and its data converters and readers
# need at run time.
#
#   bash mine-runtime/examples/reference/setup.sh        # idempotent: skips what is there
#   MINE_REFERENCE_VENV=/some/dir bash .../setup.sh     # somewhere else
#   PYTHON=python3.11 bash .../setup.sh                 # another interpreter for the venv
#
# Needs PyPI only; the venv takes 4.4 GiB (torch 1.2 GiB, CUDA libraries 2.7 GiB), about
# 2.5 minutes to make from an empty pip cache (the GROOT/ROCKET/data packages add about 11 s
# and 0.3 GiB), about 10 seconds to re-check.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)" # the workspace root (holds target/)
venv="${MINE_REFERENCE_VENV:-$repo/target/reference-venv}"
pip_flags=(--disable-pip-version-check -q)

# name==version, all installed without dependencies.
packages=(
  # PyTorch (a CUDA 13.2 build: PyPI has no CPU-only Linux wheel).
  torch==2.15.0
  # CUDA libraries that torch's own .so files link against (ELF NEEDED of
  # libtorch_python.so / libtorch_cuda.so / libtorch_cpu.so), so `import torch` needs them
  # even on a CPU-only machine. The versions are those torch 2.15.0 pins (directly or via
  # cuda-toolkit==13.2.2). Not needed and left out: nvjitlink, curand, cusolver (only
  # dlopen'ed by CUDA linalg), triton, cuda-bindings, the cuda-toolkit meta package.
  nvidia-cuda-runtime==13.2.86   # libcudart.so.13
  nvidia-cuda-nvrtc==13.2.86     # libnvrtc.so.13
  nvidia-cuda-cupti==13.2.86     # libcupti.so.13
  nvidia-cublas==13.4.1.3        # libcublas.so.13, libcublasLt.so.13
  nvidia-cufft==12.2.0.57        # libcufft.so.12
  nvidia-cufile==1.17.1.22       # libcufile.so.0
  nvidia-cusparse==12.7.10.12    # libcusparse.so.12
  nvidia-cudnn-cu13==9.26.0.51   # libcudnn.so.9
  nvidia-cusparselt-cu13==0.8.1  # libcusparseLt.so.0
  nvidia-nccl-cu13==2.30.7       # libnccl.so.2
  nvidia-nvshmem-cu13==3.7.2     # libnvshmem_host.so.3
  # Python modules `import torch` imports.
  typing_extensions==4.16.0
  sympy==1.14.0
  mpmath==1.3.0
  networkx==3.6.1
  filelock==4.3.1
  # MineStudio, and what its VPT modules import (vpt_step.py skips the package __init__s
  # of minestudio.models and minestudio.offline, which import the other policies and the
  # Lightning trainer).
  minestudio==1.1.6
  numpy==2.4.6
  gymnasium==1.4.0               # action space of the default action head
  gym==0.26.2                    # imported by vpt_lib.action_head
  gym3==0.3.3                    # vpt_lib.action_head: gym3.types (type annotations)
  cffi==2.1.1                    # imported by gym3/__init__ (libenv)
  imageio==2.38.2                # imported by gym3/__init__ (video_recorder)
  omegaconf==2.4.0               # minestudio.models.base_policy, minestudio.online.utils
  PyYAML==6.0.4                  # omegaconf
  einops==0.8.2
  huggingface_hub==0.33.0        # VPTPolicy mixes in PyTorchModelHubMixin (no downloads)
  requests==2.34.2               # huggingface_hub
  urllib3==2.8.0
  idna==3.20
  certifi==2026.10.19.post1
  tqdm==4.70.1
  packaging==26.4
  rich==15.0.0                   # vpt_lib.util
  absl-py==2.5.1                 # minestudio.utils.register
  # Hub directories (VPTPolicy.save_pretrained / from_pretrained) and checkpoint_formats.py.
  safetensors==0.8.0             # PyTorchModelHubMixin's model.safetensors
  Jinja2==3.1.6                  # save_pretrained's model card (README.md)
  MarkupSafe==3.0.4              # Jinja2
  # MineStudio's offline trainer (minestudio.offline.trainer, .lightning_callbacks), used by
  # checkpoint_formats.py; lightning bundles lightning.pytorch and lightning.fabric.
  lightning==2.6.6
  lightning-utilities==0.15.3    # lightning.fabric, torchmetrics
  fsspec==2026.9.0               # lightning.fabric (checkpoint I/O)
  torchmetrics==1.9.0            # lightning.pytorch
  # GROOT and ROCKET-1 (groot_rocket_train.py): minestudio.models.groot_one.body and
  # rocket_one.body import timm, torchvision and (GROOT) av at module level.
  timm==1.0.31                   # the image backbones: timm.create_model(..., features_only=True)
  torchvision==0.29.2            # body.py's torchvision.transforms (Normalize); timm
  pillow==12.0.0                 # imported by torchvision
  av==13.1.0                     # groot_one/body.py; the image modality's mp4 chunks. MineStudio's own
                                 # pin: ImageKernelCallback.do_decode calls VideoStream.close(), gone in av>=14
  # MineStudio's data pipeline (segmentation_fixture.py): its converters, KernelManager and
  # datasets. ray (convertion.py), albumentations (callbacks/image.py, only for
  # enable_video_aug) and ipdb (tools/event_convertion.py) are replaced by stand-ins there.
  lmdb==3.0.0                    # every modality and the events are LMDB environments
  attrs==26.1.0                  # `import attr` in vpt_lib.actions (ActionKernel/ConvertCallback)
  opencv-python-headless==4.12.0.88  # cv2: mask resize (INTER_NEAREST), video size probe; numpy 2 ABI
)

start=$SECONDS
if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating venv $venv"
  "${PYTHON:-python3}" -m venv "$venv"
else
  echo "venv $venv exists"
fi
py="$venv/bin/python"

# What is already there, as lower-case name==version with '-' for '_'.
installed="$("$py" -m pip --disable-pip-version-check list --format=freeze 2>/dev/null | tr 'A-Z_' 'a-z-')"
missing=()
for spec in "${packages[@]}"; do
  key="$(tr 'A-Z_' 'a-z-' <<<"$spec")"
  if grep -qxF "$key" <<<"$installed"; then
    echo "  present    $spec"
  else
    missing+=("$spec")
  fi
done

if ((${#missing[@]})); then
  for spec in "${missing[@]}"; do echo "  installing $spec"; done
  "$py" -m pip "${pip_flags[@]}" install --no-deps "${missing[@]}"
else
  echo "nothing to install"
fi

# Check: torch loads and MineStudio's VPT modules import the way vpt_step.py does it.
log="$(mktemp)"
if ! PYTHONDONTWRITEBYTECODE=1 "$py" - "$here" 2>"$log" <<'EOF'; then
import sys
sys.path.insert(0, sys.argv[1])
import contextlib
import torch, vpt_step, groot_rocket_train, segmentation_fixture
import jinja2, lightning, safetensors
from importlib.metadata import version
vpt_step.import_minestudio()
with contextlib.redirect_stdout(sys.stderr):  # the trainer module prints its env variables
    groot_rocket_train.import_minestudio()  # GROOT, ROCKET-1, MineLightning, objectives
    segmentation_fixture.import_minestudio_data()  # converters, readers, datasets
print(f"ok: torch {torch.__version__}, minestudio {version('minestudio')}, "
      f"lightning {version('lightning')}, timm {version('timm')}, av {version('av')}, "
      f"numpy {version('numpy')}, python {sys.version.split()[0]}")
EOF
  cat "$log" >&2
  rm -f "$log"
  echo "setup.sh: the reference environment does not import" >&2
  exit 1
fi
rm -f "$log"
echo "venv: $venv ($(du -sh "$venv" | cut -f1)), setup took $((SECONDS - start)) s"

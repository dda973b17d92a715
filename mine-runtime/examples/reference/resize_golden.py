"""Golden values for `data::video::resize_bilinear`: OpenCV's `cv2.resize(..., INTER_LINEAR)`
(what MineStudio's ImageKernelCallback calls) on deterministic RGB images, as SHA-256 of the
output bytes. Run with the reference venv (setup.sh installs opencv-python-headless):

    python resize_golden.py    # prints the Rust test's table
"""
import hashlib

import cv2
import numpy as np


def image(w, h):
    """The test image: textured, every byte value, reproducible in Rust."""
    i = np.arange(h, dtype=np.int64)[:, None, None]
    j = np.arange(w, dtype=np.int64)[None, :, None]
    c = np.arange(3, dtype=np.int64)[None, None, :]
    return ((i * i * 7 + j * 13 + c * 101 + (i * j) % 17) % 256).astype(np.uint8)


for (sw, sh), (dw, dh) in [((224, 224), (128, 128)), ((224, 224), (64, 64)),
                           ((100, 60), (160, 90)), ((640, 360), (128, 128)), ((33, 17), (20, 31))]:
    out = cv2.resize(image(sw, sh), (dw, dh), interpolation=cv2.INTER_LINEAR)
    print(f"(({sw}, {sh}), ({dw}, {dh}), \"{hashlib.sha256(out.tobytes()).hexdigest()}\"),")

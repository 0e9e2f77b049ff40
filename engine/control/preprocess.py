"""Turning a picture or a sketch into a control image, with OpenCV only.

Every preprocessor returns an RGB uint8 image of the input's size in the form the
control models were trained on: light lines or edges on black. `depth` and `pose` take
an already-prepared image (no estimator model is downloaded); `inpaint`'s control image
is made from the job's picture and mask by `inpaint_condition`. All of it runs in the
engine's worker thread, never on the UI thread.
"""

from __future__ import annotations

import numpy as np

from engine.control.spec import CONTROL_KINDS, ControlSpec
from engine.core.cvsafe import import_cv2


def _luma(image: np.ndarray) -> np.ndarray:
    """Grey levels (float) of RGB(A) uint8. A mostly transparent layer is read as strokes
    (its alpha: drawn = light, whatever the colour); otherwise transparent pixels take
    the picture's median tone, so they read as background."""
    rgb = np.asarray(image[..., :3], np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    if image.shape[2] == 4:
        alpha = image[..., 3].astype(np.float32) / 255
        opaque = alpha > 0
        if not opaque.any():
            return np.zeros(grey.shape, np.float32)
        # A layer of strokes: the strokes are what is drawn, whatever their colour.
        if (~opaque).mean() > 0.5:
            return alpha * 255
        background = float(np.median(grey[opaque]))
        grey = grey * alpha + background * (1 - alpha)
    return grey


def scribble(image: np.ndarray) -> np.ndarray:
    """White strokes on black; a dark drawing on a light ground is inverted first."""
    grey = _luma(image)
    if float(np.median(grey)) > 127:
        grey = 255 - grey
    lines = np.where(grey >= 64, 255, 0).astype(np.uint8)
    return _rgb(lines)


def canny(image: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    cv2 = import_cv2()
    grey = np.clip(_luma(image), 0, 255).astype(np.uint8)
    return _rgb(cv2.Canny(grey, int(low), int(high)))


def lineart(image: np.ndarray) -> np.ndarray:
    """Lines as an ink drawing would have them: a difference of Gaussians, thresholded
    adaptively so faint and strong lines both survive (XDoG-like)."""
    cv2 = import_cv2()
    grey = _luma(image)
    fine = cv2.GaussianBlur(grey, (0, 0), 0.8)
    coarse = cv2.GaussianBlur(grey, (0, 0), 2.0)
    dog = np.clip(coarse - fine, 0, None)  # dark lines on light give positive values
    scale = float(np.percentile(dog, 99)) or 1.0
    lines = np.clip(dog / scale * 255, 0, 255).astype(np.uint8)
    return _rgb(np.where(lines >= 48, lines, 0).astype(np.uint8))


def softedge(image: np.ndarray) -> np.ndarray:
    """Soft outlines (what HED/PiDiNet give): blurred gradient magnitude, normalised."""
    cv2 = import_cv2()
    grey = cv2.GaussianBlur(_luma(image), (0, 0), 1.5)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (0, 0), 1.0)
    scale = float(np.percentile(magnitude, 99.5)) or 1.0
    return _rgb(np.clip(magnitude / scale * 255, 0, 255).astype(np.uint8))


def prepared(image: np.ndarray) -> np.ndarray:
    """depth / pose: the image as given (transparent parts black)."""
    rgb = np.asarray(image[..., :3], np.uint8)
    if image.shape[2] == 4:
        rgb = np.where(image[..., 3:4] > 0, rgb, 0).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def as_control_image(image: np.ndarray) -> np.ndarray:
    """An already-prepared control image (ControlSpec.prepared) as RGB: laid over black,
    so transparent parts count as "nothing there" whatever kind it is."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.dstack([image] * 3)
    rgb = image[..., :3].astype(np.uint16)
    if image.shape[2] == 4:
        rgb = (rgb * image[..., 3:4] + 127) // 255
    return np.ascontiguousarray(rgb.astype(np.uint8))


def preprocess(spec: ControlSpec, image: np.ndarray) -> np.ndarray:
    """The control image for `spec` from an RGB/RGBA uint8 picture, same size, RGB."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.dstack([image] * 3)
    if spec.kind == "scribble":
        return scribble(image)
    if spec.kind == "canny":
        return canny(image, spec.low_threshold, spec.high_threshold)
    if spec.kind == "lineart":
        return lineart(image)
    if spec.kind == "softedge":
        return softedge(image)
    if spec.kind in CONTROL_KINDS:
        return prepared(image)
    raise ValueError(f"unknown control kind {spec.kind!r}")


def inpaint_condition(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ControlNet-inpaint's input: the picture in [0, 1] with the masked pixels at -1
    (float32 HxWx3), as lllyasviel's control_v11p_sd15_inpaint was trained."""
    out = np.asarray(rgb[..., :3], np.float32) / 255
    out[np.asarray(mask) > 127] = -1.0
    return out


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.dstack([grey] * 3))

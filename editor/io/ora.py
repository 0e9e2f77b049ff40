"""OpenRaster (.ora) projects: read and write a plain list of layers.

The file side lives here on plain data (`OraProject` holding `OraLayer`s with straight
RGBA arrays); `editor.io.project` converts to and from the editor's Document.

Reading is defensive (see `editor.io.safe_zip` for the archive itself): stack.xml is
parsed only after refusing DOCTYPE/ENTITY declarations, every size is checked against the
pixel limits before decoding, and problems confined to one layer (a missing or damaged
PNG, a layer thousands of pixels off the canvas) are repaired by leaving that layer empty
and recording a warning sentence instead of refusing the whole project. A project whose
stack.xml is lost or garbled (but not hostile) still yields its mergedimage.png.

Nested stacks (groups) are flattened into plain layers: offsets add up, opacities
multiply, a hidden group hides its layers. That is exact for pass-through groups of
normal layers, which is what Krita and MyPaint write for a flat document.

The inpaint mask and the selection travel as greyscale PNGs under "overpaint/", which
OpenRaster readers ignore (the spec tells them to), so a reopened project or a recovered
crash keeps the area the user painted to regenerate.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from editor.io.errors import FileError, ImageTooLargeError, ProjectFormatError, file_error_from_os
from editor.io.images import DEFAULT_MAX_PIXELS, decode_image
from editor.io.safe_zip import SafeZip, label_for
from engine.core.atomic_write import atomic_write
from engine.metadata import PARAMETERS_KEY, REQUEST_KEY

log = logging.getLogger(__name__)

MIMETYPE = b"image/openraster"
THUMBNAIL_SIZE = 256
MAX_STACK_XML_BYTES = 8 << 20
MAX_DEPTH = 64
# Far above any real project; stops a small stack.xml from listing a million layers.
MAX_LAYERS = 5000
# Layer PNG text chunks we keep (generation metadata of a result layer).
METADATA_KEYS = (PARAMETERS_KEY, REQUEST_KEY)
MAX_METADATA_CHARS = 1 << 20
# Overpaint's own layer attributes (alpha lock, control role, ...: see
# editor.io.layer_fields) start with this; other readers ignore attributes they don't know.
OWN_ATTR_PREFIX = "overpaint-"
MAX_OWN_ATTR_CHARS = 1 << 12
# Fast zlib level: layer PNGs are rewritten on every save, and level 6+ costs several
# times the time for a few percent of size.
PNG_COMPRESS_LEVEL = 3
CANVAS_ARRAYS = {"mask": "overpaint/mask.png", "selection": "overpaint/selection.png"}


@dataclass
class OraLayer:
    name: str
    pixels: np.ndarray  # (h, w, 4) uint8 straight-alpha RGBA; (0, 0, 4) when empty
    x: int = 0
    y: int = 0
    opacity: float = 1.0
    visible: bool = True
    composite_op: str = "svg:src-over"
    selected: bool = False  # the active layer (Krita writes selected="true")
    metadata: dict[str, str] = field(default_factory=dict)
    # Overpaint's own stack.xml attributes by full name ("overpaint-alpha-lock": "true").
    own: dict[str, str] = field(default_factory=dict)


@dataclass
class OraProject:
    width: int
    height: int
    layers: list[OraLayer]  # bottom to top (stack.xml lists them top first)
    # One sentence per repair made while reading, for the UI to show.
    warnings: list[str] = field(default_factory=list)
    # Canvas-sized (h, w) uint8 arrays by kind, only the non-empty ones: see CANVAS_ARRAYS.
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


# ---------------------------------------------------------------- reading


class _DamagedStack(ProjectFormatError):
    """stack.xml is missing or unusable, but not hostile: the flattened picture may remain."""


def read_ora(
    path: str | os.PathLike[str],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_total_pixels: int | None = None,
) -> OraProject:
    """Read an OpenRaster file. Raises FileError subclasses with one-sentence messages.

    `max_pixels` bounds the canvas and each layer; `max_total_pixels` (default ten times
    `max_pixels`) bounds all layers together, so memory stays predictable.
    """
    label = label_for(path)
    total_limit = max_total_pixels if max_total_pixels is not None else 10 * max_pixels
    try:
        archive = SafeZip(path, label)
    except OSError as exc:
        raise file_error_from_os(exc, label) from None
    with archive:
        try:
            root = _parse_stack_xml(archive, label)
            width, height = _canvas_size(root, label, max_pixels)
            stack = root.find("stack")
            if stack is None:
                raise _DamagedStack(f'"{label}" is damaged: its stack.xml lists no layers.')
        except _DamagedStack as exc:
            return _recover_merged_image(archive, label, max_pixels, exc)
        reader = _StackReader(archive, label, width, height, max_pixels, total_limit)
        reader.walk(stack, 0, 0, 1.0, True, 0)
        project = OraProject(width, height, reader.layers[::-1], reader.warnings)
        _read_canvas_arrays(archive, label, project)
        return project


def _read_canvas_arrays(archive: SafeZip, label: str, project: OraProject) -> None:
    for kind, member in CANVAS_ARRAYS.items():
        if not archive.has(member):
            continue
        try:
            pixels = decode_image(archive.read(member), label, project.width * project.height)
        except (FileError, KeyError):
            pixels = None
        if pixels is None or pixels.shape[:2] != (project.height, project.width):
            project.warnings.append(
                f'The saved {kind} in "{label}" was damaged, so it was left out.'
            )
            continue
        project.arrays[kind] = np.ascontiguousarray(pixels[..., 0])


def _recover_merged_image(
    archive: SafeZip, label: str, max_pixels: int, damage: _DamagedStack
) -> OraProject:
    """Salvage the flattened picture of a project whose layer list is lost."""
    if not archive.has("mergedimage.png"):
        raise damage
    try:
        pixels = decode_image(archive.read("mergedimage.png"), label, max_pixels)
    except ImageTooLargeError:
        raise
    except FileError:
        raise damage from None
    height, width = pixels.shape[:2]
    note = f'The layer list of "{label}" was damaged, so only its flattened picture was recovered.'
    log.warning("%s: %s", label, damage)
    return OraProject(width, height, [OraLayer("Recovered picture", pixels)], [note])


def _parse_stack_xml(archive: SafeZip, label: str) -> ET.Element:
    if not archive.has("stack.xml"):
        if archive.has("maindoc.xml"):
            raise ProjectFormatError(
                f'"{label}" is a Krita document (.kra), not OpenRaster; '
                "export it from Krita as .ora or PNG."
            )
        raise _DamagedStack(
            f'"{label}" is not an OpenRaster project: it has no stack.xml describing its layers.'
        )
    data = archive.read("stack.xml", cap=MAX_STACK_XML_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _DamagedStack(f'"{label}" is damaged: its stack.xml is not UTF-8 text.') from None
    # Entity declarations are how "billion laughs" XML explodes; OpenRaster never needs them.
    if re.search(r"<!\s*(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise ProjectFormatError(
            f'"{label}" was not opened because its stack.xml declares XML entities, '
            "which OpenRaster never uses."
        )
    # The text is already decoded; an encoding declaration would only confuse the parser.
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        log.warning("stack.xml of %s: %s", label, exc)
        raise _DamagedStack(
            f'"{label}" is damaged: its stack.xml is not valid XML ({exc}).'
        ) from None
    if root.tag != "image":
        raise _DamagedStack(f'"{label}" is damaged: its stack.xml does not describe an image.')
    return root


def _canvas_size(root: ET.Element, label: str, max_pixels: int) -> tuple[int, int]:
    try:
        width, height = int(root.get("w", "")), int(root.get("h", ""))
    except ValueError:
        raise _DamagedStack(
            f'"{label}" is damaged: its stack.xml gives no valid canvas size.'
        ) from None
    if width <= 0 or height <= 0:
        raise _DamagedStack(f'"{label}" has an empty canvas ({width}x{height} pixels).')
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f'"{label}" has a {width}x{height} canvas, above the limit of '
            f"{max_pixels / 1_000_000:g} megapixels; raise the image size limit in Settings "
            "if you trust this file."
        )
    return width, height


def _int_attr(element: ET.Element, name: str) -> int:
    try:
        value = float(element.get(name, "0"))
    except ValueError:
        return 0
    # Offsets beyond this are junk; the far-outside repair below then empties the layer.
    return int(value) if math.isfinite(value) and abs(value) < 2**40 else 2**40


def _opacity(element: ET.Element) -> float:
    try:
        value = float(element.get("opacity", "1"))
    except ValueError:
        return 1.0
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else 1.0


class _StackReader:
    def __init__(
        self, archive: SafeZip, label: str, width: int, height: int, max_pixels: int, total: int
    ) -> None:
        self.archive, self.label = archive, label
        self.width, self.height = width, height
        self.max_pixels, self.total_limit = max_pixels, total
        self.total_pixels = 0
        self.layers: list[OraLayer] = []  # top first, as in stack.xml
        self.warnings: list[str] = []
        self._warned_groups = False

    def warn(self, sentence: str) -> None:
        log.info("%s: %s", self.label, sentence)
        self.warnings.append(sentence)

    def walk(
        self, stack: ET.Element, dx: int, dy: int, opacity: float, visible: bool, depth: int
    ) -> None:
        if depth > MAX_DEPTH:
            raise ProjectFormatError(
                f'"{self.label}" was not opened because its groups are nested too deeply.'
            )
        for child in stack:
            if child.tag == "stack":
                if not self._warned_groups:
                    self._warned_groups = True
                    self.warn("Layer groups were flattened into plain layers.")
                self.walk(
                    child,
                    dx + _int_attr(child, "x"),
                    dy + _int_attr(child, "y"),
                    opacity * _opacity(child),
                    visible and child.get("visibility", "visible") != "hidden",
                    depth + 1,
                )
            elif child.tag == "layer":
                if len(self.layers) >= MAX_LAYERS:
                    raise ProjectFormatError(
                        f'"{self.label}" was not opened because it lists more than '
                        f"{MAX_LAYERS} layers."
                    )
                layer = self._layer(child, dx, dy, opacity, visible)
                if layer.pixels.size == 0:
                    # An empty layer's offset means nothing, and a junk one (x="1e308")
                    # would overflow Qt's 32-bit rectangles downstream.
                    layer.x = layer.y = 0
                self.layers.append(layer)
            else:
                self.warn(f'An unsupported "{child.tag}" element was skipped.')

    def _layer(
        self, element: ET.Element, dx: int, dy: int, opacity: float, visible: bool
    ) -> OraLayer:
        name = element.get("name") or f"Layer {len(self.layers) + 1}"
        layer = OraLayer(
            name=name,
            pixels=np.zeros((0, 0, 4), np.uint8),
            x=dx + _int_attr(element, "x"),
            y=dy + _int_attr(element, "y"),
            opacity=opacity * _opacity(element),
            visible=visible and element.get("visibility", "visible") != "hidden",
            composite_op=element.get("composite-op", "svg:src-over"),
            selected=element.get("selected") == "true",
            own={
                key: value[:MAX_OWN_ATTR_CHARS]
                for key, value in element.attrib.items()
                if key.startswith(OWN_ATTR_PREFIX)
            },
        )
        src = element.get("src")
        if not src:
            self.warn(f'Layer "{name}" names no picture file and was left empty.')
            return layer
        if not self.archive.has(src):
            self.warn(f'Layer "{name}" was left empty because its file "{src}" is missing.')
            return layer
        data = self.archive.read(src)
        try:
            pixels = decode_image(data, f"{self.label}: {src}", self.max_pixels)
        except ImageTooLargeError:
            raise
        except FileError:
            self.warn(f'Layer "{name}" was left empty because its picture is damaged.')
            return layer
        h, w = pixels.shape[:2]
        if self._far_outside(layer.x, layer.y, w, h):
            self.warn(f'Layer "{name}" lay far outside the canvas; its pixels were dropped.')
            layer.x = layer.y = 0
            return layer
        self.total_pixels += w * h
        if self.total_pixels > self.total_limit:
            raise ImageTooLargeError(
                f'"{self.label}" has more layer pixels than the limit of '
                f"{self.total_limit / 1_000_000:g} megapixels; raise the image size limit "
                "in Settings if you trust this file."
            )
        layer.pixels = pixels
        layer.metadata = _png_metadata(data)
        return layer

    def _far_outside(self, x: int, y: int, w: int, h: int) -> bool:
        # "Far" = not even touching the canvas grown by its own size on every side: a
        # layer moved just off the edge is kept, junk offsets are not.
        return (
            x + w <= -self.width
            or y + h <= -self.height
            or x >= 2 * self.width
            or y >= 2 * self.height
        )


def _png_metadata(data: bytes) -> dict[str, str]:
    try:
        with Image.open(io.BytesIO(data)) as im:
            info = dict(im.info)
    except Exception:  # the pixels decoded already; metadata is optional
        return {}
    return {
        key: value
        for key in METADATA_KEYS
        if isinstance(value := info.get(key), str) and len(value) <= MAX_METADATA_CHARS
    }


# ---------------------------------------------------------------- writing


def write_ora(
    path: str | os.PathLike[str],
    project: OraProject,
    merged: np.ndarray,
    keep_backup: bool = True,
) -> None:
    """Write `project` atomically, with `merged` (the canvas composite, straight RGBA).

    The previous file, if any, is kept as "<name>.bak". Raises FileError on I/O failure.
    """
    label = label_for(path)
    try:
        with atomic_write(path, keep_backup=keep_backup) as tmp:
            _write_zip(tmp, project, merged)
    except OSError as exc:
        log.warning("saving %s failed: %s", path, exc)
        raise file_error_from_os(exc, label, saving=True) from None


def _write_zip(path: os.PathLike[str], project: OraProject, merged: np.ndarray) -> None:
    merged = np.ascontiguousarray(merged, dtype=np.uint8)
    if merged.shape != (project.height, project.width, 4):
        raise ValueError(f"merged image {merged.shape} does not match the canvas")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        # The first entry, uncompressed, so `file` and other readers can sniff the type.
        zf.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        zf.writestr("stack.xml", stack_xml(project))
        for index, layer in enumerate(project.layers):
            zf.writestr(
                _layer_src(index), _png(_nonempty(layer.pixels), layer.metadata), zipfile.ZIP_STORED
            )
        for kind, array in project.arrays.items():
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(array, np.uint8), "L").save(buf, "PNG")
            zf.writestr(CANVAS_ARRAYS[kind], buf.getvalue(), zipfile.ZIP_STORED)
        zf.writestr("mergedimage.png", _png(merged), zipfile.ZIP_STORED)
        zf.writestr("Thumbnails/thumbnail.png", _png(thumbnail(merged)), zipfile.ZIP_STORED)


def _layer_src(index: int) -> str:
    return f"data/layer{index}.png"


def stack_xml(project: OraProject) -> bytes:
    image = ET.Element(
        "image", {"version": "0.0.5", "w": str(project.width), "h": str(project.height)}
    )
    stack = ET.SubElement(image, "stack", {"name": "root", "isolation": "isolate"})
    # stack.xml lists the top layer first.
    for index in reversed(range(len(project.layers))):
        layer = project.layers[index]
        attrs = {
            "name": _xml_text(layer.name),
            "src": _layer_src(index),
            "x": str(int(layer.x)),
            "y": str(int(layer.y)),
            "opacity": f"{min(max(layer.opacity, 0.0), 1.0):.6g}",
            "visibility": "visible" if layer.visible else "hidden",
            "composite-op": layer.composite_op,
        }
        if layer.selected:
            attrs["selected"] = "true"
        for key, value in layer.own.items():
            if not key.startswith(OWN_ATTR_PREFIX):
                # It would overwrite a standard attribute or be a name others may use.
                raise ValueError(f"layer attribute {key!r} lacks the {OWN_ATTR_PREFIX!r} prefix")
            attrs[key] = _xml_text(value)
        ET.SubElement(stack, "layer", attrs)
    return ET.tostring(image, encoding="utf-8", xml_declaration=True)


def _xml_text(text: str) -> str:
    # Control characters are not allowed in XML 1.0 even escaped; drop them from names.
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", text)


def _nonempty(pixels: np.ndarray) -> np.ndarray:
    # PNG cannot hold 0x0; one transparent pixel reads back as an empty-looking layer.
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        return np.zeros((1, 1, 4), np.uint8)
    return pixels


def _png(rgba: np.ndarray, metadata: dict[str, str] | None = None) -> bytes:
    info = None
    if metadata:
        info = PngInfo()
        for key in METADATA_KEYS:
            if key in metadata:
                info.add_itxt(key, metadata[key])
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), "RGBA").save(
        buf, "PNG", compress_level=PNG_COMPRESS_LEVEL, pnginfo=info
    )
    return buf.getvalue()


def thumbnail(rgba: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """The picture scaled down to fit size x size (never enlarged)."""
    im = Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), "RGBA")
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    return np.asarray(im)

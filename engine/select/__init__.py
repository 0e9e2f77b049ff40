"""Selecting an object in a picture: the magic wand, Select Object and Remove Background.

Pure numpy and OpenCV (through engine.core.cvsafe), with transformers' SamModel /
Sam2Model loaded on first use when a segmentation model is installed:

- `wand`: the magic wand, a flood fill with a colour tolerance (contiguous or global)
  and an optional anti-aliased edge;
- `prompt`: what the user gave (a box, positive and negative clicks) and its checks;
- `grabcut`: Select Object without a model, OpenCV GrabCut seeded by the box or clicks;
- `segmenter`: finding, checking and running a SAM / SAM 2 folder (safetensors only),
  the picture's embedding computed once and reused by every click;
- `objects`: the one entry point the window, the CLI and the benchmark call
  (`select_object`, `subject_mask` for Remove Background);
- `cli`: `overpaint select`.

Masks are (h, w) uint8 arrays, 0 outside, 255 inside, values between on soft edges, the
same convention as the editor's selection.
"""

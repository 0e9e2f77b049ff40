"""Upscale and refine: the upscalers (SD x4, Lanczos), the tiled refine, tile blending and the `overpaint upscale` command."""

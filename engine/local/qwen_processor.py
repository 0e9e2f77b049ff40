"""Qwen-Image-Edit's prompt processor without its video part.

The Edit pipelines read the picture to edit through transformers' `Qwen2VLProcessor`
(tokenizer + image processor). In transformers 5.25 that class always builds a video
processor as well, and the video processor imports torchvision. Overpaint does not depend
on torchvision: PyPI's torchvision fails to import beside the CPU torch 2.13.0, and the
pair that works (torch 2.14.1 + torchvision 0.29.1) weighs 5.5 GB, for a part an image
editor never calls. So the processor is built here from its image processor (the PIL
one, which needs no torchvision) and the tokenizer only; the pipelines call it with
pictures and text, never videos. The folder's processor/ files are read as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, Qwen2VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

from engine.discovery import read_json_object


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """Qwen2VLProcessor with an image processor and a tokenizer, and no video processor."""

    def __init__(
        self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None
    ) -> None:
        # Qwen2VLProcessor.__init__ minus the video processor (see the module docstring).
        self.image_token = getattr(tokenizer, "image_token", "<|image_pad|>")
        self.video_token = getattr(tokenizer, "video_token", "<|video_pad|>")
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def load_processor(folder: Path) -> ImageOnlyQwen2VLProcessor:
    """The processor of a Qwen-Image-Edit diffusers folder: its processor/ subfolder in
    either layout transformers writes (preprocessor_config.json, or processor_config.json
    holding the image processor's settings), the tokenizer/ one for what it lacks."""
    processor_dir = folder / "processor"
    has_tokenizer = (processor_dir / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(
        str(processor_dir if has_tokenizer else folder / "tokenizer"), local_files_only=True
    )
    nested = processor_dir / "processor_config.json"
    settings = read_json_object(nested).get("image_processor") if nested.is_file() else None
    if (processor_dir / "preprocessor_config.json").is_file():
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(
            str(processor_dir), local_files_only=True
        )
    elif isinstance(settings, dict):
        image_processor = Qwen2VLImageProcessorPil.from_dict(settings)
    else:
        image_processor = Qwen2VLImageProcessorPil()
    return ImageOnlyQwen2VLProcessor(image_processor, tokenizer)

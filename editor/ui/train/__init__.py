"""The Train LoRA dialog: training pictures and captions, the borrowed model and the training task."""

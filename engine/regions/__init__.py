"""Regional prompts: a prompt (and negative prompt) that applies only under a mask."""

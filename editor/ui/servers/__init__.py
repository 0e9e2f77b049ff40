"""ComfyUI servers in the window: the Settings page and the background health checks."""

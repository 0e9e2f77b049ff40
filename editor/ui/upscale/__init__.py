"""Image ▸ Upscale: the options dialog and the controller that runs the upscale job."""

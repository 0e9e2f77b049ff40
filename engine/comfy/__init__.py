"""Running generation on ComfyUI servers instead of in this process.

workflow.py turns a request into a ComfyUI graph (pure), samplers.py maps Overpaint's
sampler names, server.py talks to one server (HTTP + websocket), pool.py spreads the
samples of a job over several servers, and engine.py is the engine the worker runs: it
plans the region, uploads the crop and mask, and composites the results back exactly as
the in-process engine does. No Qt anywhere in here.
"""

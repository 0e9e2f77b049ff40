"""Running generation on ComfyUI servers instead of in this process.

workflow.py turns a request into a ComfyUI graph (pure; modern_workflow.py for the
transformer families), server_models.py sorts a server's files by family and finds a
split model's parts there, redux.py takes a FLUX.1 job's reference layers through core
Redux nodes (and refuses them elsewhere), samplers.py maps Overpaint's sampler names,
server.py talks to one server (HTTP + websocket), pool.py spreads the samples of a job
over several servers, and engine.py is the engine the worker runs: it plans the region,
uploads the crop and mask, and composites the results back exactly as the in-process
engine does.
No Qt anywhere in here.
"""

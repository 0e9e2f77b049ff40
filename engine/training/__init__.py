"""Training a LoRA (plus new concept words) on a loaded model from a folder of pictures.

No Qt here: the CLI (`overpaint train`), the window's worker and the tests call the same
functions.
"""

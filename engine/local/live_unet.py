"""Live's UNet steps as TorchScript traces: a small model's step without the Python.

At Live's size a small UNet's step is mostly Python, not arithmetic: the demo model's
(4.4 M parameters, 16x16 latents) is ~470 module calls, each with diffusers' checks (an
`inspect.signature` per attention call). A trace of the same forward runs the same
kernels on the same weights, so its results are bit-identical, without that Python:
0.6-0.7x the eager step time here (fp32 and bf16, 1 thread), and the engine thread holds
the GIL less, so the window stays smoother meanwhile. The cost is once per input shape:
the trace, then TorchScript's two profiling runs, about 4 s on a loaded 2-core machine
(on its own thread: the first live results run untraced meanwhile).

`TracedUNet` stands in for the UNet in Live's own pipeline only (engine.local.warm);
Generate keeps the plain one. A step runs traced only when it is a plain step: tensors
in, no ControlNet residuals or other extra inputs, no LoRA (peft) layers, no gradients,
and the UNet's own attention processors (regional prompts swap theirs in for a job);
anything else runs the UNet as it is. A changed module or hook makes the traces anew.
A new shape's trace is built on a thread of its own (on a copy of the UNet's modules
that shares its weights, so attention processors swapped meanwhile do not get into it)
while the steps run untraced: the first live result does not wait for it.
One trace per input shape and dtype, the last few kept. Weights are read from the UNet
at each call (the trace is not frozen; freezing gained 6 % more), so weights changed in
place are used. Large UNets are not traced: their steps are arithmetic, and tracing one
would cost seconds for a few percent.
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
from collections import OrderedDict
from typing import Any

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

log = logging.getLogger(__name__)

# Above this many parameters a step is arithmetic (SD 1.5's 860 M: ~1 s per step at
# 512² on a CPU, of which Python is a few percent); below it, Python (the demo's 4.4 M).
TRACE_MAX_PARAMETERS = 50_000_000
KEPT_TRACES = 4  # input shapes (live regions of other proportions) kept traced


class _Plain(torch.nn.Module):
    """The UNet's forward with only the inputs a plain step has, returning a tensor."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: Any, timestep: Any, text: Any) -> Any:
        return self.unet(sample, timestep, encoder_hidden_states=text, return_dict=False)[0]


def _structure(unet: torch.nn.Module) -> int:
    """A fingerprint of what a trace bakes in besides the attention processors: the
    modules, their hooks and any forward patched onto an instance."""
    return hash(
        tuple(
            (
                id(m),
                id(m.__dict__.get("forward")),
                len(m._forward_hooks) + len(m._forward_pre_hooks),
            )
            for m in unet.modules()
        )
    )


def worth_tracing(unet: Any) -> bool:
    """Whether Live should trace this UNet: a small one, on the CPU."""
    params = list(unet.parameters())
    return (
        bool(params)
        and params[0].device.type == "cpu"
        and sum(p.numel() for p in params) <= TRACE_MAX_PARAMETERS
    )


class TracedUNet(torch.nn.Module):
    """Stands in for `unet` in a pipeline (see module docstring); every attribute the
    pipeline reads (config, dtype, device) is the UNet's own."""

    def __init__(self, unet: torch.nn.Module, background: bool = True) -> None:
        super().__init__()
        self.unet = unet
        self.background = background  # False: a new shape's step waits for its trace
        self._traces: OrderedDict[tuple, Any] = OrderedDict()
        self._builds: dict[tuple, threading.Thread] = {}
        self._built: dict[tuple, tuple[int | None, Any]] = {}  # key -> (layout, trace)
        self._layout: int | None = None
        self._last_timestep: float | None = None
        self._processors: list[tuple[Any, Any]] = []
        self._failed = False
        self.traces_built = 0
        self.traced_steps = 0

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "unet" not in modules:
                raise
            return getattr(modules["unet"], name)

    def forward(
        self,
        sample: Any,
        timestep: Any,
        encoder_hidden_states: Any = None,
        *args: Any,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> Any:
        unet = self.unet
        plain = (
            not args
            and all(v is None for v in kwargs.values())
            and all(isinstance(t, torch.Tensor) for t in (sample, timestep, encoder_hidden_states))
            and not torch.is_grad_enabled()
            and not getattr(unet, "peft_config", None)
        )
        traced = self._trace_for(sample, timestep, encoder_hidden_states) if plain else None
        if traced is None:
            return unet(
                sample, timestep, encoder_hidden_states, *args, return_dict=return_dict, **kwargs
            )
        out = traced(sample, timestep, encoder_hidden_states)
        self.traced_steps += 1
        return UNet2DConditionOutput(sample=out) if return_dict else (out,)

    def _trace_for(self, sample: Any, timestep: Any, text: Any) -> Any:
        if self._failed:
            return None
        # Timesteps fall within a denoising run, and modules are not swapped during one:
        # the whole structure is looked at (468 modules for the demo's) once per run.
        t = float(timestep.reshape(-1)[0])
        new_run = self._last_timestep is None or t >= self._last_timestep
        self._last_timestep = t
        if new_run:
            structure = _structure(self.unet)
            if structure != self._layout:
                self._traces.clear()  # a module or hook changed: the traces are stale
                self._layout = structure
                self._processors = [
                    (m, m.processor) for m in self.unet.modules() if hasattr(m, "processor")
                ]
        # Attention processors swapped in for one job (regional prompts bring their own,
        # masks and all, every job) run untraced; the traces serve again once they are back.
        if any(m.processor is not p for m, p in self._processors):
            return None
        key = tuple(
            (tuple(x.shape), x.dtype, x.device, x.is_contiguous(memory_format=torch.channels_last))
            for x in (sample, timestep, text)
        )
        traced = self._traces.get(key)
        if traced is None:
            if key not in self._builds and not self._start_build(key, (sample, timestep, text)):
                return None
            traced = self._collect(key)  # None while it is being built: runs untraced
        if traced is not None:
            self._traces.move_to_end(key)
        return traced

    def _start_build(self, key: tuple, example: tuple) -> bool:
        unet = self.unet
        if self.background:  # the modules as they are now, sharing the UNet's weights
            weights = {id(t): t for t in (*unet.parameters(), *unet.buffers())}
            try:
                unet = copy.deepcopy(unet, weights)
            except Exception:  # a module or hook that cannot be copied
                log.warning("Live's UNet runs untraced: copying it failed", exc_info=True)
                self._failed = True
                return False
        # torch.jit.trace's deprecation notice and its notes on shape-dependent Python
        # branches (each trace is kept for one input shape only), silenced here for good:
        # catch_warnings changes the filters of every thread, the engine's included.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="`torch.jit.trace")
        args = (key, self._layout, unet, *(x.clone() for x in example))
        build = threading.Thread(target=self._build, args=args, name="live-unet-trace")
        self._builds[key] = build
        if self.background:
            build.start()
        else:
            build.run()
        return True

    def _collect(self, key: tuple) -> Any:
        """The trace built for `key`, kept, if it is ready and fits the modules now."""
        if key not in self._built:
            return None
        layout, traced = self._built.pop(key)
        del self._builds[key]
        if traced is None:  # a torch without tracing, or a UNet it cannot trace
            self._failed = True
        elif layout == self._layout:  # else built for modules since changed: anew
            self.traces_built += 1
            self._traces[key] = traced
            while len(self._traces) > KEPT_TRACES:
                self._traces.popitem(last=False)
            return traced
        return None

    def wait_for_traces(self) -> None:
        """Wait until the traces being built are ready (tests; quitting waits too)."""
        for build in list(self._builds.values()):
            if build.ident is not None:
                build.join()

    def _build(self, key: tuple, layout: int | None, unet: Any, *example: Any) -> None:
        traced = None
        try:
            with torch.inference_mode():
                traced = torch.jit.trace(_Plain(unet), example, check_trace=False)
                for _ in range(2):  # TorchScript's profiling runs, here rather than in a job
                    traced(*example)
            log.info("traced Live's UNet for %s latents", tuple(example[0].shape))
        except Exception:  # a torch without tracing, or a UNet it cannot trace
            log.warning("Live's UNet runs untraced: tracing it failed", exc_info=True)
        self._built[key] = (layout, traced)

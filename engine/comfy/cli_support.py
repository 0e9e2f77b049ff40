"""What the CLI needs for `--server URL`: the server list, the server's model, its model list."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from engine.backends import ServerList
from engine.comfy.pool import ServerPool
from engine.comfy.server_models import find_model, server_models

TOKEN_ENV = "OVERPAINT_SERVER_TOKEN"  # a bearer token for every --server of this run


def add_server_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        dest="servers",
        action="append",
        default=[],
        metavar="URL",
        help="run on this ComfyUI server (repeat for several; samples are spread over them); "
        f"a token for them is read from ${TOKEN_ENV}",
    )


def servers_from_args(args: argparse.Namespace) -> ServerList:
    token = os.environ.get(TOKEN_ENV, "")
    return tuple((url, token) for url in getattr(args, "servers", None) or ())


@dataclass(frozen=True)
class RemoteModel:
    """The part of engine.models.ModelInfo the CLI uses, for a model on a server."""

    name: str
    native_size: int


def remote_model(servers: ServerList, wanted: str) -> RemoteModel:
    """The servers' checkpoint or diffusion model for `wanted` ("" = the first); one
    sentence on trouble, and at once for a dead URL (the connection check is the first
    thing a job does)."""
    # The ComfyUI engine loads only when a job runs remotely, not at every CLI start-up.
    from engine.comfy.engine import native_size

    server, info = ServerPool(servers).live()[0]
    model = find_model(wanted, info.checkpoints, info.diffusion_models, server.url)
    return RemoteModel(model.name, native_size(model.name))


def list_server_models(servers: ServerList) -> int:
    """`overpaint models --server URL`: what each server offers, one item a line (its
    models grouped by family, then its LoRAs and ControlNets)."""

    for server, info, error in ServerPool(servers).check_all():
        if info is None:
            print(f"{server.url}\tunreachable\t{error}")
            continue
        print(f"{server.url}\tComfyUI {info.version}\t{info.device}\tqueue {info.queue}")
        # As `overpaint models` lists local ones: name, family, kind, where; by family.
        for model in server_models(info.checkpoints, info.diffusion_models):
            kind = model.loader.replace("_", " ")
            print(f"{model.name}\t{model.family}\t{kind}\t{server.url}")
        for kind, names in (("lora", info.loras), ("controlnet", info.controlnets)):
            for name in names:
                print(f"{name}\t-\t{kind}\t{server.url}")
    return 0

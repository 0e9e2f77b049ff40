"""Health checks without a window: states, reports only on change, the models offered.
(Real servers coming and going are in test_comfy_window.py.)"""

from __future__ import annotations

import threading

from engine.comfy.health import HealthMonitor, ServerState, offered_checkpoints, offered_models
from tests.comfy.servers import free_port


def test_a_dead_server_is_reported_offline_once_with_one_sentence() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    reports: list[list[ServerState]] = []
    monitor = HealthMonitor([(url, "")], reports.append, interval=60)
    assert monitor.states()[0].label == "checking…"
    [state] = monitor.check_once()
    assert state.label == "offline" and not state.online
    assert state.error == f"Could not reach the ComfyUI server at {url} (connection refused)."
    monitor.check_once()  # nothing changed: no second report
    assert reports == [[state]]


def test_the_thread_reports_and_stops() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    reported = threading.Event()
    monitor = HealthMonitor([(url, "")], lambda _states: reported.set(), interval=60)
    monitor.start()
    assert reported.wait(15)
    monitor.stop()
    assert monitor._thread is None


def test_labels_and_the_models_of_online_servers_in_order() -> None:
    a = ServerState("http://a", True, 0, checkpoints=("x.safetensors", "y.ckpt"))
    b = ServerState("http://b", True, 2, checkpoints=("y.ckpt", "z.safetensors"))
    c = ServerState("http://c", False, error="gone", checkpoints=("w.safetensors",))
    assert [s.label for s in (a, b, c)] == ["online", "busy (queue 2)", "offline"]
    assert offered_checkpoints([a, b, c]) == ("x.safetensors", "y.ckpt", "z.safetensors")
    assert offered_checkpoints([c]) == ()


def test_offered_models_group_the_online_servers_files_by_family() -> None:
    a = ServerState("http://a", True, checkpoints=("dream.safetensors",),
                    diffusion_models=("qwen_image_fp8.safetensors",))  # fmt: skip
    b = ServerState("http://b", True, checkpoints=("sd3.5_large.safetensors",),
                    diffusion_models=("flux1-dev.safetensors", "qwen_image_fp8.safetensors"))  # fmt: skip
    c = ServerState("http://c", False, error="gone", diffusion_models=("chroma.safetensors",))
    assert [(m.label, m.name, m.loader) for m in offered_models([a, b, c])] == [
        ("SD 1.x / 2.x", "dream.safetensors", "checkpoint"),
        ("FLUX.1", "flux1-dev.safetensors", "diffusion_model"),
        ("SD 3.5", "sd3.5_large.safetensors", "checkpoint"),
        ("Qwen-Image", "qwen_image_fp8.safetensors", "diffusion_model"),
    ]

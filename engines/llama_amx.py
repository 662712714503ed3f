"""A guard against llama.cpp's AMX crash.

llama.cpp builds made on a CPU with AMX (Sapphire Rapids and newer Xeons) put quantized
weights into an AMX buffer, and on some machines the first batched decode then segfaults:
the worker threads have no permission for AMX tile data (ggml-org/llama.cpp#20824, an open
fix in #26954). `pip` builds llama-cpp-python for the machine it runs on and caches the wheel,
so this hits ordinary installs. On such builds models load without llama.cpp's extra buffer
types (AMX and weight repacking): a little slower on prompts, never a crash.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
_lock = threading.Lock()
_installed: list[bool] = []


def build_has_amx() -> bool:
    import llama_cpp

    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def avoid_amx_buffers() -> None:
    """On an AMX build, make every later model load skip extra buffer types (idempotent)."""
    with _lock:
        if _installed:
            return
        _installed.append(build_has_amx())
        if not _installed[0]:
            return
        import llama_cpp.llama_cpp as native

        defaults = native.llama_model_default_params

        def without_extra_buffers() -> native.llama_model_params:
            params = defaults()
            params.use_extra_bufts = False
            return params

        native.llama_model_default_params = without_extra_buffers
        log.info("llama.cpp was built with AMX; loading models without AMX buffers "
                 "(ggml-org/llama.cpp#20824)")

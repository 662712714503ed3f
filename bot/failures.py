"""The one line a command prints for a failure no narrower handler explained: the cause and,
where there is one, the fix. The traceback goes to the log at DEBUG only."""

from __future__ import annotations

import errno

from engines.redact import redact

DATA_DIR_FIX = "set data_dir (BLENDBOT_DATA_DIR) to a writable directory"
_OS_CAUSES = {
    errno.ENOTDIR: ("a part of the path is a file, not a directory", DATA_DIR_FIX),
    errno.EEXIST: ("it is a file, not a directory", DATA_DIR_FIX),
    errno.EACCES: ("permission denied", DATA_DIR_FIX),
    errno.EPERM: ("permission denied", DATA_DIR_FIX),
    errno.EROFS: ("the file system is read-only", DATA_DIR_FIX),
    errno.ENOSPC: ("the disk is full", "free some disk space"),
    errno.EDQUOT: ("the disk quota is exhausted", "free some disk space"),
}


def unexpected(exc: BaseException) -> str:
    """One line for `exc`, never its traceback; credentials in its text are masked."""
    if isinstance(exc, OSError) and exc.filename is not None:
        cause, fix = _OS_CAUSES.get(exc.errno or 0, (exc.strerror or "failed", DATA_DIR_FIX))
        return redact(f"cannot use {exc.filename}: {cause}; {fix}")
    if isinstance(exc, OSError) and exc.errno in _OS_CAUSES:
        cause, fix = _OS_CAUSES[exc.errno or 0]
        return f"{cause}; {fix}"
    text = (str(exc).splitlines() or [""])[0].strip()[:200]
    detail = f"{type(exc).__name__}: {redact(text)}" if text else type(exc).__name__
    return f"unexpected failure ({detail}); set log_level = \"DEBUG\" to log the traceback"

"""The project's error policy: which failures are the user's to fix, and how a job ends on each.

Every domain error of EquiCR derives from :class:`UserError`: bad input, a collection or checkpoint
that is not what it should be, a lease another job holds. A job (:func:`equicr.cli.run_job`) prints
such an error as one line ``error: ...`` and exits :data:`USAGE_ERROR`, as it does for the operating
system's errors a user can fix (a missing file, no permission, a read-only or full disk, a file
where a folder should be). Every other exception is a bug and keeps its traceback (credentials of
URIs removed), a ``ValueError`` from numpy or torch included, and exits :data:`CRASHED`. Exit 1 is
reserved for "some items failed" (the rest finished).
"""

from __future__ import annotations

import errno

#: Exit status of a job stopped by bad arguments or bad input (argparse uses the same).
USAGE_ERROR = 2
#: Exit status of a job that finished but left some items failed (each reported by name).
ITEMS_FAILED = 1
#: Exit status of a job stopped by a bug (an unexpected exception): sysexits' EX_SOFTWARE.
CRASHED = 70
#: Exit status of a job stopped with Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def outcome_status(done: int, failed: int) -> int:
    """The exit status of a job over items: 0 all done, 1 some failed (the others done), 2 none done at all.

    ``done`` counts the items that are finished now, including those a rerun found finished.
    """
    if done == 0:
        return USAGE_ERROR
    return ITEMS_FAILED if failed else 0


#: Operating-system errors a user fixes by choosing another path or freeing, mounting or allowing one.
FIXABLE_ERRNOS = frozenset(
    {
        errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
        errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY, errno.ENAMETOOLONG,
    }
)  # fmt: skip


#: Operating-system errors that always name something the user gave (the package raises these with a message).
FIXABLE_OS_ERRORS = (FileNotFoundError, PermissionError, FileExistsError, NotADirectoryError, IsADirectoryError)


class UserError(ValueError):
    """A failure the user can fix, with a message that names the culprit (file, band, shape) and the fix.

    A ``ValueError`` so that code validating values reads naturally; but :func:`user_error_line`
    treats only this class (and its subclasses) as the user's, never a bare ``ValueError``.
    """


def fixable_os_error(error: BaseException) -> OSError | None:
    """The operating-system error a user can fix behind ``error`` (itself or a cause it was raised from), or None.

    Libraries such as Ray wrap an ``OSError`` of the storage they write to in errors of their own;
    the cause chain still names the path.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, FIXABLE_OS_ERRORS) or (isinstance(current, OSError) and current.errno in FIXABLE_ERRNOS):
            return current
        current = current.__cause__ or current.__context__
    return None


def user_error_line(error: BaseException) -> str | None:
    """The one line a job prints for ``error`` when it is the user's to fix, else None (a bug: keep the traceback)."""
    if isinstance(error, UserError):
        return f"error: {error}"
    os_error = fixable_os_error(error)
    if os_error is None:
        return None
    if os_error.filename is None:
        return f"error: {os_error.strerror if os_error.errno is not None else os_error}"
    where = f"{os_error.filename}" + (f" -> {os_error.filename2}" if os_error.filename2 else "")
    return f"error: {where}: {os_error.strerror or os_error}"

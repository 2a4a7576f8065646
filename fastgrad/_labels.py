"""The one rule that turns targets into class labels, shared by every layer.

Compiled (it runs inside the kernels' compiled loss functions) and at the bottom of the
package (the front door's checks, :func:`fastgrad._validation.as_labels`, word their errors
from its status; the kernels raise on it, :func:`labels_or_raise`). The
reference keeps the book's own code, whose rule this is.
"""

from __future__ import annotations

import numpy as np

from ._config import jit

__all__ = [
    "LABELS_OK",
    "LABELS_COUNT",
    "LABELS_RANGE",
    "LABELS_NON_INTEGER",
    "label_status",
    "labels_or_raise",
]

#: What :func:`label_status` found: the targets are usable, or why not.
LABELS_OK, LABELS_COUNT, LABELS_RANGE, LABELS_NON_INTEGER = 0, 1, 2, 3


@jit
def label_status(t, batch, n_classes):
    """The one rule that turns targets into labels, for every backend's front door and kernel.

    The book's rule (``cross_entropy_error``: ``t.size == y.size`` means one-hot), made
    strict: 2-D targets with ``batch * n_classes`` entries are one-hot rows and give their
    argmax, and so are the ``n_classes`` entries of a 1-D target for one sample; any other
    1-D target must be ``batch`` integer-valued labels in ``[0, n_classes)`` (the book's
    ``argmax(axis=1)`` fails on a 1-D target of ``batch * n_classes`` entries; reading it as
    one-hot rows would be a silent wrong loss). Returns ``(labels, status,
    index)``: ``status`` is ``LABELS_OK`` or says what is wrong, ``index`` the first bad entry
    (``-1`` if none), so that the front door can word the error and the kernels can refuse
    rather than read past a row.
    """
    arr = np.asarray(t)
    flat = np.ascontiguousarray(arr).reshape(-1)
    labels = np.empty(batch, dtype=np.int64)
    if flat.size == batch * n_classes and (arr.ndim == 2 or batch == 1):
        for n in range(batch):
            best = 0
            for k in range(1, n_classes):
                if flat[n * n_classes + k] > flat[n * n_classes + best]:
                    best = k
            labels[n] = best
        return labels, LABELS_OK, -1
    if flat.size != batch:
        return labels, LABELS_COUNT, -1
    for n in range(batch):
        v = flat[n]
        if not (v >= 0 and v < n_classes):  # also catches NaN
            return labels, LABELS_RANGE, n
        if v != np.floor(v):
            return labels, LABELS_NON_INTEGER, n
        labels[n] = np.int64(v)
    return labels, LABELS_OK, -1


@jit
def labels_or_raise(t, batch, n_classes):
    """Targets as labels by :func:`label_status`, or ``ValueError``: no
    kernel indexes outside its arrays, whatever targets it is given."""
    labels, status, _ = label_status(t, batch, n_classes)
    if status == LABELS_COUNT:
        raise ValueError("t must hold one integer label per row or one one-hot row per row of y")
    if status == LABELS_RANGE:
        raise ValueError("t holds a label outside [0, n_classes): labels are class indices")
    if status == LABELS_NON_INTEGER:
        raise ValueError("t holds a non-integer label: labels are integer class indices")
    return labels

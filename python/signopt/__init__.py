"""signopt: sign-based (1-bit) optimizers for PyTorch, on the fused C++ kernels of the signopt library.

    import signopt
    opt = signopt.optim.Signum(model.parameters(), lr=1e-4, momentum=0.9, dither=True)

The classes are in :mod:`signopt.optim` (docs/python.md). Importing signopt loads the operator library
``libsignopt_ops.so`` (the ``torch.ops.signopt`` namespace) and registers its fake kernels.
"""

from . import _ops  # noqa: F401  (loads torch.ops.signopt)
from . import distributed, optim
from ._registry import optimizer_registry

__version__ = "0.1.0"
__all__ = ["distributed", "optim", "optimizer_registry", "__version__"]

"""Check that the book's dependencies are installed: ``python -m minilib.check_env``.

Prints ``[OK]`` or ``[FAIL]`` per package with its version, then the device PyTorch
will use. Exits with status 1 if a required package is missing.
"""

from __future__ import annotations

import importlib
import sys

#: (import name, distribution name, required?)
PACKAGES = [
    ("numpy", "numpy", True),
    ("scipy", "scipy", True),
    ("torch", "torch", True),
    ("matplotlib", "matplotlib", True),
    ("sklearn", "scikit-learn", True),
    ("threadpoolctl", "threadpoolctl", True),
    ("skopt", "scikit-optimize", True),
    ("mnist1d", "mnist1d", True),
    ("tqdm", "tqdm", True),
    ("pytest", "pytest", False),
    ("nbclient", "nbclient", False),
    ("nbconvert", "nbconvert", False),
    ("ipykernel", "ipykernel", False),
    ("optuna", "optuna", False),
]


def check(packages: list[tuple[str, str, bool]] = PACKAGES) -> list[tuple[str, bool, str, bool]]:
    """Return ``(distribution, importable, version or error, required)`` per package."""
    results = []
    for module, dist, required in packages:
        try:
            mod = importlib.import_module(module)
            results.append((dist, True, str(getattr(mod, "__version__", "installed")), required))
        except Exception as exc:  # ImportError, or a broken install raising anything
            results.append((dist, False, f"{type(exc).__name__}: {exc}", required))
    return results


def main() -> int:
    print(f"Python {sys.version.split()[0]}")
    missing_required = False
    for dist, ok, detail, required in check():
        tag = "[OK]  " if ok else "[FAIL]"
        note = "" if required else " (dev extra)"
        print(f"{tag} {dist:<16} {detail}{note}")
        missing_required |= required and not ok
    try:
        from minilib.train import get_device, is_quick

        print(f"device: {get_device()}  (set MINILIB_DEVICE to override)")
        print(f"mode:   {'quick' if is_quick() else 'full'}  (MINILIB_QUICK=1 for quick mode)")
    except Exception as exc:
        print(f"[FAIL] device check: {exc}")
        missing_required = True
    return 1 if missing_required else 0


if __name__ == "__main__":
    sys.exit(main())

"""Rebuild datasets/mnist1d.npz from the mnist1d package's generator (about one second).

    python datasets/build_mnist1d.py

The file is checked against minilib.data.MNIST1D_SHA256 (a hash of the arrays).
"""

from minilib.data import MNIST1D_FILE, load_mnist1d

if __name__ == "__main__":
    MNIST1D_FILE.unlink(missing_ok=True)
    data = load_mnist1d()  # generates, checks the hash and writes the file
    print(f"wrote {MNIST1D_FILE}: {data}")

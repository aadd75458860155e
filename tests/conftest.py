import os

os.environ.setdefault("MPLBACKEND", "Agg")  # tests draw figures without a display

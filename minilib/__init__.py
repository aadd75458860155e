"""minilib: the from-scratch AutoML library of the book *AutoML from Scratch*.

One algorithm, one module, readable top to bottom. The chapters import it and show
its source; practitioners may copy any module.
"""

from minilib.space import Choice, Float, Int, Space
from minilib.study import Study, Trial, maximize, minimize

__version__ = "0.1.0"
__all__ = ["Choice", "Float", "Int", "Space", "Study", "Trial", "maximize", "minimize"]

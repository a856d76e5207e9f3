"""``devflow.kernel.lazy``: the module is imported on the first attribute read, not before, and then
behaves as the module itself."""

from __future__ import annotations

import subprocess
import sys


def test_lazy_module_imports_on_first_use() -> None:
    # A fresh interpreter: this one may have imported the module already.
    script = (
        "import sys\n"
        "from devflow.kernel.lazy import lazy_module\n"
        "colorsys = lazy_module('colorsys')\n"
        "before = 'colorsys' in sys.modules\n"
        "value = colorsys.rgb_to_hsv(1.0, 0.0, 0.0)\n"
        "import colorsys as real\n"
        "print(before, 'colorsys' in sys.modules, value, colorsys.hsv_to_rgb is real.hsv_to_rgb)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "(0.0,", "1.0,", "1.0)", "True"]

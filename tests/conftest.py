"""Pytest suites: tests/engine (the engine alone), tests/integration (real servers,
odoo-bin, the module installed), tests/docs (the README).

The engine lives inside the Odoo module (``civimail_addon/engine``) but never
imports Odoo. Importing ``civimail_addon.engine`` normally runs the module's
``__init__`` and so imports Odoo; register the package without running it so
these suites need no Odoo at all.
"""

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDON_DIR = ROOT / "civimail_addon"

if "civimail_addon" not in sys.modules:
    _spec = importlib.machinery.ModuleSpec("civimail_addon", None, is_package=True)
    _package = importlib.util.module_from_spec(_spec)
    _package.__path__ = [str(ADDON_DIR)]
    sys.modules["civimail_addon"] = _package

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["harness.fixtures"]

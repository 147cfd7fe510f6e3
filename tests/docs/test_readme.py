"""The admin guide is written once: README.md carries the module's CONFIGURE fragment."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from gen_readme import readme_md  # noqa: E402


def test_readme_admin_guide_is_the_configure_fragment():
    readme = (ROOT / "README.md").read_text()
    guide = (ROOT / "civimail_addon" / "readme" / "CONFIGURE.md").read_text()
    assert readme_md(readme, guide) == readme, (
        "README.md's admin guide differs from civimail_addon/readme/CONFIGURE.md: "
        "edit the fragment, then run tools/gen_readme.py")

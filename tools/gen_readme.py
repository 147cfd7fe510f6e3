"""Build the module's documentation from its OCA ``readme/`` fragments.

Usage: ``.venv/bin/python tools/gen_readme.py`` (needs ``pandoc`` for the RST).

- ``README.md``: the admin guide between its two markers is
  ``civimail_addon/readme/CONFIGURE.md``, so the guide is written once.
- ``civimail_addon/README.rst``: the page the Odoo Apps store and OCA tools
  show when no HTML page is given — DESCRIPTION, CONFIGURE and USAGE
  converted by pandoc, as ``oca-gen-addon-readme`` lays them out.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAGMENTS = ROOT / "civimail_addon" / "readme"
GUIDE_START = ("<!-- generated from civimail_addon/readme/CONFIGURE.md by tools/gen_readme.py: "
               "edit that file -->\n")
GUIDE_END = "<!-- end of civimail_addon/readme/CONFIGURE.md -->\n"
GUIDE = re.compile(re.escape(GUIDE_START) + ".*?" + re.escape(GUIDE_END), re.DOTALL)
RST_SECTIONS = (("DESCRIPTION", None), ("CONFIGURE", "Configuration"), ("USAGE", "Usage"))
RST_HEAD = """\
=================
CiviMail for Odoo
=================

.. |badge1| image:: https://img.shields.io/badge/licence-LGPL--3-blue.png
    :target: http://www.gnu.org/licenses/lgpl-3.0-standalone.html
    :alt: License: LGPL-3

|badge1|

"""
RST_TAIL = """
Credits
=======

Authors
-------

* civimail_addon contributors
"""


def readme_md(text, guide):
    """``text`` (README.md) with ``guide`` between the markers."""
    if not GUIDE.search(text):
        raise SystemExit("README.md: the admin guide markers are missing")
    return GUIDE.sub(lambda _match: GUIDE_START + guide + GUIDE_END, text)


def to_rst(markdown):
    # Fragments use "###" for their sections: one level under the RST page's.
    return subprocess.run(
        ["pandoc", "--from=gfm-gfm_auto_identifiers", "--to=rst", "--wrap=preserve",
         "--shift-heading-level-by=-1"],
        input=markdown, capture_output=True, text=True, check=True,
    ).stdout


def readme_rst():
    parts = [RST_HEAD]
    for fragment, title in RST_SECTIONS:
        if title:
            parts.append(f"{title}\n{'=' * len(title)}\n\n")
        parts.append(to_rst((FRAGMENTS / f"{fragment}.md").read_text()) + "\n")
        if not title:
            parts.append("**Table of contents**\n\n.. contents::\n   :local:\n\n")
    return "".join(parts).rstrip("\n") + "\n" + RST_TAIL


def main():
    readme = ROOT / "README.md"
    readme.write_text(readme_md(readme.read_text(), (FRAGMENTS / "CONFIGURE.md").read_text()))
    if not shutil.which("pandoc"):
        raise SystemExit("pandoc not found (apt-get install pandoc): README.rst not rebuilt")
    (ROOT / "civimail_addon" / "README.rst").write_text(readme_rst())
    return 0


if __name__ == "__main__":
    sys.exit(main())

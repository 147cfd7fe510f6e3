"""Build the module's documentation from its OCA ``readme/`` fragments.

Usage: ``.venv/bin/python tools/gen_readme.py`` (needs ``pandoc``).

``civimail_addon/README.rst`` is the page the Odoo Apps store and OCA tools
show: DESCRIPTION, CONFIGURE (the admin guide) and USAGE converted by pandoc,
as ``oca-gen-addon-readme`` lays them out. The fragments are the only copy;
the root README.md links to them.
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAGMENTS = ROOT / "civimail_addon" / "readme"
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
    if not shutil.which("pandoc"):
        raise SystemExit("pandoc not found (apt-get install pandoc): README.rst not rebuilt")
    (ROOT / "civimail_addon" / "README.rst").write_text(readme_rst())
    return 0


if __name__ == "__main__":
    sys.exit(main())

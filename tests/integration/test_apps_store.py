"""What a partner gets from the Odoo Apps store: the page, and a zip that installs."""

import ast
import re
import shlex
import struct
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

from tools.odoo_driver import MODULE, unique_dbname

ADDON = Path(__file__).resolve().parents[2] / MODULE
DESCRIPTION = ADDON / "static" / "description"
MANIFEST = ast.literal_eval((ADDON / "__manifest__.py").read_text())


class Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_store_page_shows_real_screenshots():
    page = Images()
    page.feed((DESCRIPTION / "index.html").read_text())
    assert len(page.sources) >= 6
    for source in page.sources:
        width, height = png_size(DESCRIPTION / source)
        assert width >= 1200 and height >= 700, f"{source}: {width}x{height}, not a screen"
    for image in MANIFEST["images"]:
        png_size(ADDON / image)
    assert png_size(DESCRIPTION / "icon.png") == (128, 128)


def test_store_page_names_every_python_dependency():
    page = (DESCRIPTION / "index.html").read_text().replace("&gt;", ">").replace("&lt;", "<")
    line = re.search(r"pip install (.+?)</pre>", page).group(1)
    listed = {re.split(r"[<>=]", spec)[0] for spec in shlex.split(line)}
    assert listed == set(MANIFEST["external_dependencies"]["python"])


def test_a_zip_of_the_addon_installs_in_stock_odoo_with_demo_data(odoo, tmp_path):
    """Unzipped alone next to Odoo's addons, as a partner installs it."""
    archive = tmp_path / f"{MODULE}.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(ADDON.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(ADDON.parent))
    addons = tmp_path / "addons"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(addons)
    odoo_addons = ",".join(str(odoo.source / part) for part in ("odoo/addons", "addons"))
    dbname = unique_dbname("civimail_zip")
    environ = odoo.environ()
    environ.pop("PYTHONPATH")  # nothing of this repository but the unzipped addon
    try:
        result = subprocess.run(
            odoo.command("-d", dbname, "-i", MODULE, "--stop-after-init", "--no-http",
                         f"--addons-path={odoo_addons},{addons}"),
            env=environ, capture_output=True, text=True, timeout=900, check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert " ERROR " not in result.stderr, result.stderr[-3000:]
        with odoo.connect(dbname) as connection, connection.cursor() as cr:
            cr.execute("SELECT state, demo FROM ir_module_module WHERE name = %s", [MODULE])
            assert cr.fetchone() == ("installed", True)
            # The demo contacts' hold notes are worded as Fetch Bounces words them
            # (the bounce type's own name, the contact's language), not stored text, and
            # dated when the hold was put (days ago, not at install), as the banner says.
            cr.execute(
                "SELECT message.body, "
                "abs(extract(epoch FROM message.date - partner.email_hold_date)) < 3600 "
                "FROM mail_message message JOIN ir_model_data data "
                "ON data.model = 'res.partner' AND data.res_id = message.res_id "
                "JOIN res_partner partner ON partner.id = data.res_id "
                "WHERE data.module = %s AND data.name = 'demo_partner_barbara' "
                "AND message.model = 'res.partner' ORDER BY message.id", [MODULE])
            notes = [(body, same_date) for body, same_date in cr.fetchall()
                     if "put on hold" in body]
            assert len(notes) == 1, notes
            assert ("put on hold: 3 bounces of type “Dns” (threshold 3). Last diagnostic: "
                    "Host or domain name not found.") in notes[0][0]
            assert notes[0][1], "the note is dated when the hold was put"
        connection.close()
    finally:
        odoo.drop_database(dbname)

#!/usr/bin/env bash
# Prepares everything `make run` and `make test` need, idempotently:
#   1. Debian packages (PostgreSQL, Dovecot, NSD, build headers) when missing;
#   2. the Odoo 18.0 source (ODOO_SRC, else a cache under the user's home);
#   3. the virtualenv .venv with Odoo's and the addon's requirements;
#   4. a PostgreSQL server: the one the standard PG* variables name, else a
#      cluster private to this checkout under .data/postgres;
#   5. Postfix, Exim, OpenSMTPD and Sendmail unpacked under .data/mta for the bounce generator;
#   6. .data/odoo.conf, the Odoo configuration every command of the project uses.
# Prints nothing but progress and, on failure, what is missing and how to fix it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA="$ROOT/.data"
VENV="$ROOT/.venv"
ODOO_GIT=${ODOO_GIT:-https://github.com/odoo/odoo.git}
ODOO_REF=${ODOO_REF:-18.0}
ODOO_CACHE=${CIVIMAIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/civimail_addon}
ODOO_SRC=${ODOO_SRC:-$ODOO_CACHE/odoo-$ODOO_REF}
PG_ROLE=odoo

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$DATA"

# -- 1. Debian packages -----------------------------------------------------
pg_bindir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return
    fi
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    done
    return 1
}

missing=()
command -v git >/dev/null || missing+=(git)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v pg_config >/dev/null || missing+=(libpq-dev)
[ -n "${PGHOST:-}" ] || pg_bindir >/dev/null || missing+=(postgresql)
command -v dovecot >/dev/null || missing+=(dovecot-imapd dovecot-pop3d)
[ -x /usr/lib/dovecot/pop3 ] || missing+=(dovecot-pop3d)
command -v nsd >/dev/null || missing+=(nsd)
command -v openssl >/dev/null || missing+=(openssl)
# The module's README.rst is built from its readme/ fragments (a test rebuilds it).
command -v pandoc >/dev/null || missing+=(pandoc)
command -v gcc >/dev/null || missing+=(gcc python3-dev)
# The guided tour's HttpCase runs in headless Chromium (Odoo looks for these names).
command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
    || command -v google-chrome >/dev/null || missing+=(chromium)
# The bounce generator (harness/mta.py) runs Postfix, Exim, OpenSMTPD, Sendmail from
# their unpacked packages (section 5) in a network namespace: their libraries,
# iproute2, util-linux's unshare and m4 (it writes sendmail.cf).
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
command -v m4 >/dev/null || missing+=(m4)
for lib in libdb5.3 libicu72 libnsl2 libsasl2-2 libevent-2.1-7 libidn12 libgnutls-dane0 libpcre2-8-0; do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'ok installed' || missing+=("$lib")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else
        die "missing Debian packages: ${missing[*]}. Install them (apt-get install ${missing[*]}) and run again."
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q "${missing[@]}" >"$DATA/apt.log" 2>&1 \
        || { $SUDO apt-get update -q >>"$DATA/apt.log" 2>&1 && $SUDO apt-get install -y -q "${missing[@]}" >>"$DATA/apt.log" 2>&1; } \
        || die "could not install ${missing[*]} (see $DATA/apt.log)."
fi
# The packages start system-wide daemons on install; the tests run their own.
for daemon in dovecot nsd; do
    if [ -x "/etc/init.d/$daemon" ] && pgrep -x "$daemon" >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        "/etc/init.d/$daemon" stop >/dev/null 2>&1 || true
    fi
done

# -- 2. Odoo source ----------------------------------------------------------
if [ ! -x "$ODOO_SRC/odoo-bin" ] && [ ! -f "$ODOO_SRC/odoo-bin" ]; then
    if [ -e "$ODOO_SRC" ] && [ -n "$(ls -A "$ODOO_SRC" 2>/dev/null)" ]; then
        die "$ODOO_SRC exists but holds no odoo-bin. Point ODOO_SRC at an Odoo 18.0 source tree, or remove that folder."
    fi
    say "cloning Odoo $ODOO_REF from $ODOO_GIT into $ODOO_SRC (first use only)"
    mkdir -p "$(dirname "$ODOO_SRC")"
    git clone -q --depth 1 --branch "$ODOO_REF" "$ODOO_GIT" "$ODOO_SRC" 2>"$DATA/odoo-clone.log" || {
        rm -rf "$ODOO_SRC"
        die "the Odoo 18.0 source is missing and could not be cloned from $ODOO_GIT ($ODOO_REF): $(tail -1 "$DATA/odoo-clone.log").
  Provide it in one of these ways, then run again:
    - ODOO_SRC=/path/to/odoo-18.0 make test      (an existing source tree with odoo-bin)
    - put a source tree at $ODOO_SRC
    - ODOO_GIT=<reachable clone URL or local repository> ODOO_REF=<branch> make test"
    }
fi
grep -q "^version_info = (18, 0" "$ODOO_SRC/odoo/release.py" 2>/dev/null \
    || die "$ODOO_SRC is not an Odoo 18.0 source tree (odoo/release.py says otherwise)."

# -- 3. Virtualenv -----------------------------------------------------------
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10))' \
    || die "Odoo 18 needs Python 3.10 or newer; $PYTHON is $("$PYTHON" -V 2>&1)."
stamp=$(cat "$ODOO_SRC/requirements.txt" "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha1sum | cut -c1-16)
if [ "$(cat "$VENV/.civimail-stamp" 2>/dev/null)" != "$stamp" ]; then
    say "installing Python requirements into .venv (first use or requirements changed)"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    # python-ldap is only for auth_ldap; one of Odoo's source packages still
    # needs pkg_resources at build time, hence the setuptools constraint.
    grep -v '^python-ldap' "$ODOO_SRC/requirements.txt" >"$DATA/odoo-requirements.txt"
    echo 'setuptools<70' >"$DATA/pip-constraint.txt"
    PIP_CONSTRAINT="$DATA/pip-constraint.txt" "$VENV/bin/pip" install -q --disable-pip-version-check \
        -r "$DATA/odoo-requirements.txt" -r "$ROOT/requirements-dev.txt" >"$DATA/pip.log" 2>&1 \
        || die "pip could not install the requirements (see $DATA/pip.log)."
    echo "$stamp" >"$VENV/.civimail-stamp"
fi

# -- 4. PostgreSQL -----------------------------------------------------------
if [ -n "${PGHOST:-}" ]; then
    DB_HOST=$PGHOST DB_PORT=${PGPORT:-5432} DB_USER=${PGUSER:-$PG_ROLE} DB_PASSWORD=${PGPASSWORD:-False}
else
    BIN=$(pg_bindir) || die "PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql."
    PGDATA_DIR="$DATA/postgres"
    PG_LOG="$DATA/postgres.log"
    # PostgreSQL refuses to run as root: the cluster then belongs to the
    # unprivileged 'postgres' user, who must be able to reach its folder.
    if [ "$(id -u)" = 0 ]; then
        as_pg() { (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")"); }
        if ! su postgres -s /bin/sh -c "test -x $(printf %q "$DATA")"; then
            # The checkout is not reachable by 'postgres' (e.g. under /root):
            # keep the cluster in a folder it can reach, linked from .data.
            real="/var/tmp/civimail_addon-pg-$(echo "$ROOT" | sha1sum | cut -c1-12)"
            mkdir -p "$real" && chown postgres: "$real" && chmod 700 "$real"
            [ -L "$PGDATA_DIR" ] || ln -sfn "$real" "$PGDATA_DIR"
            PGDATA_DIR=$real
            # pg_ctl's log is written by 'postgres' too: beside the cluster.
            PG_LOG="$real.log"
        fi
    else
        as_pg() { "$@"; }
    fi
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
        say "creating a private PostgreSQL cluster in $PGDATA_DIR"
        mkdir -p "$PGDATA_DIR"
        [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA_DIR"
        as_pg "$BIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C >"$DATA/initdb.log" 2>&1 \
            || die "initdb failed (see $DATA/initdb.log)."
        port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
# civimail_addon: private to this checkout, loopback only
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
fsync = off
max_connections = 200
EOF
    fi
    port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$PGDATA_DIR/postgresql.conf" | tail -1)
    if ! as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
        touch "$PG_LOG" && { [ "$(id -u)" != 0 ] || chown postgres: "$PG_LOG"; }
        as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -w start >/dev/null \
            || die "PostgreSQL did not start (see $PG_LOG)."
    fi
    PSQL=$(command -v psql || echo "$BIN/psql")
    "$PSQL" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE'" | grep -q 1 \
        || "$PSQL" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE ROLE $PG_ROLE LOGIN SUPERUSER" \
        || die "could not create the PostgreSQL role $PG_ROLE."
    DB_HOST=127.0.0.1 DB_PORT=$port DB_USER=$PG_ROLE DB_PASSWORD=False
fi

# -- 5. Mail servers for the generated bounce corpus -------------------------
# Postfix, Exim, OpenSMTPD and Sendmail all provide mail-transport-agent, so Debian
# installs only one of them: each is unpacked (not installed) under .data/mta,
# and harness/mta.py runs it with its own configuration and spool. The users
# and the empty chroot folder their maintainer scripts would create are made
# here (root only; the generator says what is missing otherwise).
MTA_DIR="$DATA/mta"
for pkg in postfix exim4-daemon-light opensmtpd sendmail-bin sendmail-cf; do
    [ -d "$MTA_DIR/$pkg/usr" ] && continue
    say "unpacking the Debian package $pkg into $MTA_DIR (not installed system-wide)"
    mkdir -p "$MTA_DIR/debs" && rm -rf "$MTA_DIR/debs/${pkg}_"*.deb "$MTA_DIR/$pkg.tmp"
    download() { (cd "$MTA_DIR/debs" && apt-get download -q "$pkg") >>"$DATA/apt.log" 2>&1; }
    download || { [ "$(id -u)" = 0 ] && apt-get update -q >>"$DATA/apt.log" 2>&1 && download; } \
        || die "could not download the Debian package $pkg (see $DATA/apt.log; apt-get update may help)."
    dpkg -x "$MTA_DIR/debs/${pkg}_"*.deb "$MTA_DIR/$pkg.tmp" && mv "$MTA_DIR/$pkg.tmp" "$MTA_DIR/$pkg"
done
if [ "$(id -u)" = 0 ]; then
    getent group postdrop >/dev/null || groupadd --system postdrop
    for user in postfix Debian-exim opensmtpd opensmtpq; do
        getent passwd "$user" >/dev/null || useradd --system --user-group --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
    done
    mkdir -p /var/lib/opensmtpd/empty
fi

# -- 6. Odoo configuration ---------------------------------------------------
cat >"$DATA/odoo.conf" <<EOF
[options]
addons_path = $ODOO_SRC/odoo/addons,$ODOO_SRC/addons,$ROOT
data_dir = $DATA/filestore
db_host = $DB_HOST
db_port = $DB_PORT
db_user = $DB_USER
db_password = $DB_PASSWORD
EOF
echo "$ODOO_SRC" >"$DATA/odoo-src"

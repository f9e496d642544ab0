#!/usr/bin/env bash
# backupmate installer for Debian (12 and later): installs the daemon as a systemd service.
#
# Run it as root from a clone of the repository:
#
#   sudo bash deploy/install.sh            # install or upgrade
#   bash deploy/install.sh --dry-run       # show what it would do, change nothing (root not needed)
#
# It is safe to run again, and that is also how you upgrade:
#   - apt packages: only the missing ones are installed (mariadb-backup, zstd, age; nodejs and npm
#     only if there is no `node`). Node.js 20 or later is required.
#   - the project is built in this clone (npm ci, npm run build) and installed with
#     `npm install -g --install-links .`: a real copy under $(npm root -g), so the service
#     does not depend on this clone staying where it is (and ProtectHome=yes in the unit would
#     hide a clone under /root or /home).
#   - the system group `backupmate` (members may use backupmatectl) is created if missing.
#   - /etc/backupmate (0750 root:backupmate) is created if missing. /etc/backupmate/backupmate.env
#     is copied from config/backupmate.env (mode 0600) ONLY if it does not exist: an existing
#     configuration is never overwritten or changed.
#   - backupmate.service and backupmate@.service in /etc/systemd/system are always replaced with
#     this version's units (with ExecStart pointing at the installed binary). Keep local changes
#     in drop-ins (`systemctl edit backupmate`), which are left alone.
#   - `systemctl daemon-reload` when systemd is running. A running daemon is not restarted (it
#     could be in the middle of a backup); the script tells you to restart it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
etc_dir=/etc/backupmate
env_file=$etc_dir/backupmate.env
unit_dir=/etc/systemd/system
units=(backupmate.service backupmate@.service)
group=backupmate
min_node=20
# The path the unit files in systemd/ are written with; replaced by the real one on install.
unit_bin=/usr/bin/backupmate

dry_run=0
usage() {
  cat <<EOF
Usage: bash deploy/install.sh [--dry-run]

Installs backupmate as a systemd service on Debian: missing apt packages, the npm package
(built from this clone), the group '$group', $etc_dir, and the units in $unit_dir.
  --dry-run   print what would be done; change nothing
  -h, --help  this text
EOF
}
for arg in "$@"; do
  case $arg in
    --dry-run | -n) dry_run=1 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'install.sh: unknown argument: %s\n' "$arg" >&2; usage >&2; exit 64 ;;
  esac
done

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
# Runs a command that changes the system; in a dry run only prints it.
run() {
  if [ "$dry_run" -eq 1 ]; then
    printf '    would run: %s\n' "$*"
  else
    printf '    + %s\n' "$*"
    "$@"
  fi
}
npm_q() { npm --loglevel=error "$@" 2>/dev/null; }

[ "$dry_run" -eq 1 ] && say "dry run: nothing will be changed"

# --- 1. Preconditions --------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  [ "$dry_run" -eq 1 ] || die "run me as root (sudo bash deploy/install.sh), or with --dry-run to see what I would do"
  note "(not root: a real run needs root)"
fi
if ! { [ -r /etc/debian_version ] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; }; then
  die "this installer is for Debian and its derivatives (apt-get, dpkg); see README.md, section 'Running the daemon under systemd', for the manual steps"
fi
if ! [ -f "$repo/package.json" ] || ! [ -f "$repo/systemd/backupmate.service" ]; then
  die "run me from a clone of backupmate (no package.json or systemd units in $repo)"
fi
say "Debian $(cat /etc/debian_version), repository $repo"

# --- 2. Node.js ----------------------------------------------------------------------------------
# Look for node and npm where the service will: the unit runs `#!/usr/bin/env node` with
# systemd's default PATH, and ProtectHome=yes hides /root and /home, so a node from nvm does not
# count. The same node and npm then build and install the package.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
install_node=0
if command -v node >/dev/null; then
  node_path=$(command -v node)
  [ "$(node_major)" -ge "$min_node" ] ||
    die "Node.js $min_node or later is required, $node_path is $(node --version 2>/dev/null || echo "not runnable"). Upgrade it (e.g. the NodeSource packages for Debian) and run me again."
  command -v npm >/dev/null || die "node $(node --version) is installed but npm is not; install npm for it and run me again"
  say "Node.js $(node --version) at $node_path, npm $(npm_q --version || echo '?')"
else
  # Do not install a nodejs that is too old: Debian 12's own is 18.
  candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ { print $2 }')
  cand_major=$(printf '%s' "${candidate:-}" | sed -E 's/^[0-9]+://; s/^([0-9]+).*/\1/')
  [[ $cand_major =~ ^[0-9]+$ ]] || cand_major=0
  if [ "$cand_major" -lt "$min_node" ]; then
    msg="node is not installed in /usr/bin or /usr/local/bin (one from nvm cannot be used by the service), and apt offers nodejs ${candidate:-(none)}, older than $min_node. Install Node.js $min_node+ system-wide first (e.g. the NodeSource repository for Debian), then run me again."
    [ "$dry_run" -eq 1 ] || die "$msg"
    note "a real run would stop here: $msg"
  fi
  install_node=1
  say "Node.js is missing: it comes from apt (nodejs ${candidate:-?})"
fi

# --- 3. apt packages -----------------------------------------------------------------------------
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
# age: ENCRYPTION=age backups and every restore or verify of one need the age program.
for p in mariadb-backup zstd age; do installed "$p" || missing+=("$p"); done
[ "$install_node" -eq 1 ] && missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  run apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  if [ "$install_node" -eq 1 ] && [ "$dry_run" -eq 0 ]; then
    [ "$(node_major)" -ge "$min_node" ] || die "after installing nodejs, node is $(node --version 2>/dev/null || echo "still missing"), not $min_node or later"
    # NodeSource's nodejs contains npm; Debian's (13 and later) needs the npm package.
    command -v npm >/dev/null || run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm
  fi
else
  say "apt packages present: mariadb-backup zstd age"
fi

# --- 4. Build and install the npm package --------------------------------------------------------
# Where `npm install -g` puts the binary, checked before anything is installed.
if command -v npm >/dev/null; then
  bin="$(npm_q prefix -g)/bin/backupmate"
else
  bin=$unit_bin # dry run without node: npm would come with the nodejs package (prefix /usr)
fi
case $bin in
  /usr/bin/backupmate | /usr/local/bin/backupmate) ;;
  /root/* | /home/*) die "npm's global prefix puts backupmate at $bin, which the service cannot see (ProtectHome=yes). Use a system-wide prefix (npm config set prefix /usr/local --location=global) and run me again." ;;
  *) note "npm's global prefix puts backupmate at $bin (not /usr/bin or /usr/local/bin); the units will point there" ;;
esac
say "building and installing the npm package"
cd "$repo"
# --ignore-scripts: the build comes next, once (no dependency has install scripts).
run npm ci --ignore-scripts --no-fund --no-audit --loglevel=error
# npm 11 does not run a package's prepare script on a global install: build first.
run npm run --silent build
# --install-links: copy the package (and its production dependencies) into the global
# node_modules. A plain `npm install -g .` would only symlink this clone.
run npm install -g --install-links --no-fund --no-audit --loglevel=error .
if [ "$dry_run" -eq 0 ]; then
  [ -x "$bin" ] || die "npm install -g did not create $bin (npm prefix -g is $(npm_q prefix -g))"
  note "installed: $bin (version $("$bin" --version))"
else
  note "the units' ExecStart would be $bin"
fi

# --- 5. Group, configuration directory, configuration file -------------------------------------
if getent group "$group" >/dev/null; then
  say "group $group exists"
else
  say "creating the system group $group (its members may use backupmatectl)"
  run groupadd --system "$group"
fi

if [ -d "$etc_dir" ]; then
  say "$etc_dir exists ($(stat -c '%A %U:%G' "$etc_dir")), left as it is"
else
  say "creating $etc_dir (0750 root:$group)"
  run install -d -m 0750 -o root -g "$group" "$etc_dir"
fi
if [ -e "$env_file" ]; then
  say "$env_file exists: kept unchanged (this installer never overwrites a configuration)"
  mode=$(stat -c '%a' "$env_file")
  [ "${mode: -2}" = "00" ] || note "warning: $env_file is mode $mode but holds secrets: chmod 600 $env_file"
  note "the current example with every key is $repo/config/backupmate.env"
else
  say "installing the example configuration as $env_file (0600 root:root)"
  run install -m 0600 -o root -g root "$repo/config/backupmate.env" "$env_file"
fi

# --- 6. systemd units ---------------------------------------------------------------------------
render_unit() { sed "s#^ExecStart=$unit_bin #ExecStart=$bin #" "$repo/systemd/$1"; }
say "systemd units in $unit_dir"
for u in "${units[@]}"; do
  dest=$unit_dir/$u
  if [ -f "$dest" ] && cmp -s <(render_unit "$u") "$dest"; then
    note "$u: up to date"
  elif [ "$dry_run" -eq 1 ]; then
    note "$u: would $([ -f "$dest" ] && echo replace || echo install) $dest (mode 0644)"
  else
    [ -d "$unit_dir" ] || install -d -m 0755 "$unit_dir"
    tmp=$(mktemp "$unit_dir/.$u.XXXXXX")
    render_unit "$u" >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$dest"
    note "$u: installed $dest"
  fi
done

running_systemd=0
[ -d /run/systemd/system ] && running_systemd=1
if [ "$running_systemd" -eq 1 ]; then
  run systemctl daemon-reload
  if systemctl is-active --quiet backupmate.service 2>/dev/null; then
    note "backupmate.service is running the previous version: restart it when no job runs (systemctl restart backupmate)"
  fi
else
  say "systemd is not running here (container or chroot): skipped systemctl daemon-reload"
fi

# --- 7. Next steps ------------------------------------------------------------------------------
cat <<EOF

Next steps:
  1. Edit $env_file: storage (S3 bucket or STORAGE=file), DB_USER/DB_PASSWORD or DB_SOCKET,
     schedules. Keep it mode 0600.
  2. Check it:                 backupmate config check
  3. Start the daemon:         systemctl enable --now backupmate
     (several MariaDB servers: one /etc/backupmate/NAME.env each and
      systemctl enable --now backupmate@NAME, see README.md, section 'Running the daemon under systemd')
  4. Follow its log:           journalctl -u backupmate -f      (JSON: journalctl -u backupmate -o json)
  5. Let DBAs use backupmatectl: usermod -aG $group USER   (takes effect at their next login)
EOF
[ "$dry_run" -eq 1 ] && say "dry run finished: nothing was changed"
exit 0

#!/usr/bin/env bash
# backupmate quickstart: no cloud account needed.
#
# Installs what a fresh Debian 12 machine lacks (mariadb-server, mariadb-backup, zstd; npm
# packages), starts a sandbox MariaDB with sample data, takes a full backup into a local store
# (STORAGE=file), restores it with --copy-back into a second sandbox server's datadir, starts that
# server and compares CHECKSUM TABLE for every table. Everything lives under $QUICKSTART_DIR
# (default /tmp/backupmate-quickstart) and both servers are stopped at the end.
#
# Usage: bash deploy/quickstart.sh        (or: npm run quickstart)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${QUICKSTART_DIR:-/tmp/backupmate-quickstart}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

# 1. System packages (only the missing ones).
need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariabackup >/dev/null 2>&1 || need+=(mariadb-backup)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

# 2. The project itself.
cd "$here"
if [ ! -d node_modules ]; then say "npm ci"; npm ci --no-fund --no-audit --loglevel=error; fi
if [ ! -f dist/src/cli/backupmate.js ] || [ -n "$(find src -newer dist/src/cli/backupmate.js -name '*.ts' -print -quit)" ]; then
  say "building"; npm run --silent build
fi
bm() { node "$here/dist/src/cli/backupmate.js" "$@"; }

# 3. Sandbox servers.
if [ "$(id -u)" -eq 0 ]; then run_as=mysql; else run_as=$(id -un); fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
}
trap cleanup EXIT

rm -rf "$dir"
mkdir -p "$dir"/{src,restored,store,tmp,run}
chmod 755 "$dir"
[ "$run_as" = "$(id -un)" ] || chown "$run_as": "$dir"/{src,restored,run}

start_server() { # name datadir socket
  local name=$1 datadir=$2 sock=$3
  mariadbd --no-defaults --user="$run_as" --datadir="$datadir" --socket="$sock" --skip-networking \
    --pid-file="$dir/run/$name.pid" --log-error="$dir/$name.err" --log-bin="$datadir/mysql-bin" --server-id=1 \
    --innodb-buffer-pool-size=128M >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 120); do
    mariadb --no-defaults -S "$sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.5
  done
  tail -20 "$dir/$name.err" >&2; die "sandbox server $name did not start"
}
sql() { mariadb --no-defaults -S "$1" -uroot --batch --skip-column-names -e "$2"; }

say "starting the source sandbox server in $dir/src"
mariadb-install-db --no-defaults --user="$run_as" --datadir="$dir/src" --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1 \
  || { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
start_server source "$dir/src" "$dir/run/source.sock"

say "loading sample data (shop: 3 tables, 200k rows, one MyISAM)"
pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
sql "$dir/run/source.sock" "
CREATE DATABASE shop;
USE shop;
CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(64), email VARCHAR(128)) ENGINE=InnoDB;
INSERT INTO shop.customers SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.com') FROM seq_1_to_50000;
CREATE TABLE shop.orders (id INT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), note TEXT, KEY (customer_id)) ENGINE=InnoDB;
INSERT INTO shop.orders SELECT seq, 1 + seq % 50000, (seq * 7919 % 100000) / 100, REPEAT(MD5(seq), 3) FROM seq_1_to_150000;
CREATE TABLE shop.audit (id INT PRIMARY KEY, what VARCHAR(64)) ENGINE=MyISAM;
INSERT INTO shop.audit SELECT seq, CONCAT('event ', seq) FROM seq_1_to_5000;
CREATE USER backupmate@localhost IDENTIFIED BY '$pw';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SHOW VIEW ON *.* TO backupmate@localhost;"

say "writing $dir/.backupmate.env (mode 0600: it holds the database password)"
umask 077
cat >"$dir/.backupmate.env" <<ENV
STORAGE=file
STORAGE_PATH=$dir/store
DB_SOCKET=$dir/run/source.sock
DB_USER=backupmate
DB_PASSWORD=$pw
LOCAL_TEMP_DIR=$dir/tmp
MARIADB_DATADIR=$dir/restored
MARIADB_OS_USER=$run_as
LOG_FILE=$dir/backupmate.log
ENV
umask 022
cd "$dir"

say "backupmate backup --full"
bm backup --full >"$dir/backup.jsonl"
grep '"backup.end"' "$dir/backup.jsonl"

say "backupmate list"
bm list

say "backupmate restore latest --copy-back (into the second sandbox's datadir)"
# The restore's "is a server running here?" check asks DB_SOCKET: point it at the (stopped) target.
DB_SOCKET="$dir/run/restored.sock" bm restore latest --copy-back 2>>"$dir/restore.jsonl"

say "starting the restored sandbox server"
start_server restored "$dir/restored" "$dir/run/restored.sock"

say "comparing CHECKSUM TABLE"
tables=$(sql "$dir/run/source.sock" "SELECT CONCAT(table_schema,'.',table_name) FROM information_schema.tables WHERE table_schema='shop' AND table_type='BASE TABLE' ORDER BY 1" | paste -sd, -)
a=$(sql "$dir/run/source.sock" "CHECKSUM TABLE $tables")
b=$(sql "$dir/run/restored.sock" "CHECKSUM TABLE $tables")
printf '%s\n' "$a"
if [ "$a" = "$b" ]; then
  n=$(printf '%s\n' "$a" | wc -l)
  printf '\n\033[1;32mdata matches: %s tables, CHECKSUM TABLE equal on source and restored server\033[0m\n' "$n"
  echo "sandbox: $dir (config $dir/.backupmate.env, store $dir/store, log $dir/backupmate.log)"
else
  printf 'restored:\n%s\n' "$b" >&2
  die "DATA MISMATCH between source and restored server"
fi

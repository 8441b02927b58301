# Sourced by scripts/test: make sure PostgreSQL and Redis answer; start throwaway ones if not.
# Exports PRIVACYOPS_TEST_POSTGRES_URL and PRIVACYOPS_TEST_REDIS_URL; stop_services cleans up.

_throwaway=""

_need_debian_package() {  # command, package
  if command -v "$1" >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/"$1" >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian package $2 for the tests…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >/dev/null
  else
    echo "The tests need $2: install it with 'sudo apt-get install $2' and run again." >&2
    exit 1
  fi
}

_pg_answers() {
  "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(sys.argv[1].replace("+psycopg", ""), connect_timeout=3).close()
PYEOF
}

ensure_postgres() {
  local url="${PRIVACYOPS_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
  if _pg_answers "$url"; then
    export PRIVACYOPS_TEST_POSTGRES_URL="$url"; return 0
  fi
  _need_debian_package initdb postgresql
  local bin dir port=54329
  bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
  dir=$(mktemp -d /tmp/privacyops-pg.XXXXXX)
  local run=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; run=(runuser -u postgres --); fi
  echo "No PostgreSQL answered at $url: starting a throwaway one on port $port."
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" -l "$dir/log" -w start >/dev/null
  _throwaway="$_throwaway pg:$dir"
  export PRIVACYOPS_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

ensure_redis() {
  local url="${PRIVACYOPS_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
  if "$PY" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_timeout=3).ping()" "$url" >/dev/null 2>&1; then
    export PRIVACYOPS_TEST_REDIS_URL="$url"; return 0
  fi
  _need_debian_package redis-server redis-server
  local port=63799
  echo "No Redis answered at $url: starting a throwaway one on port $port."
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --pidfile "/tmp/privacyops-redis-$port.pid" >/dev/null
  _throwaway="$_throwaway redis:$port"
  export PRIVACYOPS_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
}

_mysql_answers() {
  "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], connect_args={"connect_timeout": 3})
with engine.connect() as conn:
    conn.execute(text("SELECT 1"))
PYEOF
}

ensure_mysql() {
  local url="${PRIVACYOPS_TEST_MYSQL_URL:-mysql+pymysql://root@127.0.0.1:3306/test}"
  if _mysql_answers "$url"; then
    export PRIVACYOPS_TEST_MYSQL_URL="$url"; return 0
  fi
  _need_debian_package mariadbd mariadb-server
  local dir port=33069 user
  dir=$(mktemp -d /tmp/privacyops-mariadb.XXXXXX)
  user=$(id -un); [ "$(id -u)" = 0 ] && user=mysql && chown mysql "$dir"
  echo "No MySQL/MariaDB answered at $url: starting a throwaway MariaDB on port $port."
  mariadb-install-db --no-defaults --datadir="$dir/data" --user="$user" --auth-root-authentication-method=normal >/dev/null 2>&1
  mariadbd --no-defaults --datadir="$dir/data" --user="$user" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/sock" --pid-file="$dir/pid" --skip-log-bin >"$dir/log" 2>&1 &
  _throwaway="$_throwaway mariadb:$dir"
  export PRIVACYOPS_TEST_MYSQL_URL="mysql+pymysql://root@127.0.0.1:$port/mysql"
  local i
  for i in $(seq 1 60); do _mysql_answers "$PRIVACYOPS_TEST_MYSQL_URL" && return 0; sleep 0.5; done
  echo "The throwaway MariaDB did not start; see $dir/log." >&2; exit 1
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] || _need_debian_package chromium chromium
}

# axe-core (the accessibility checker the browser tests inject) from the npm registry, once.
ensure_axe() {
  command -v npm >/dev/null 2>&1 || _need_debian_package npm npm
  [ -f tests/browser/axe/node_modules/axe-core/axe.min.js ] && return 0
  (cd tests/browser/axe && npm ci --no-audit --no-fund --silent) >/dev/null
}

stop_services() {
  local item
  for item in $_throwaway; do
    case "$item" in
      pg:*) local d="${item#pg:}"; local bin
            bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)")
            if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin/pg_ctl" -D "$d/data" -m immediate stop >/dev/null 2>&1
            else "$bin/pg_ctl" -D "$d/data" -m immediate stop >/dev/null 2>&1; fi
            rm -rf "$d" ;;
      mariadb:*) local m="${item#mariadb:}"
            [ -f "$m/pid" ] && kill "$(cat "$m/pid")" 2>/dev/null; sleep 1; rm -rf "$m" ;;
      redis:*) redis-cli -p "${item#redis:}" shutdown nosave >/dev/null 2>&1 || true ;;
    esac
  done
}

#!/usr/bin/env bash
# Makes sure the PostgreSQL and MariaDB servers the database engine's tests
# use answer on 127.0.0.1, the way the tests expect them:
#   PostgreSQL on 127.0.0.1:5432, superuser postgres without a password,
#     every other user with one (md5/SCRAM), database "test";
#   MariaDB on 127.0.0.1:3306, root@127.0.0.1 without a password, database
#     "test".
# Installs Debian's postgresql and mariadb-server when they are missing
# (apt-get), starts them when nothing answers, and sets up the logins.
# Nothing is done for a server named by COFFER_TEST_POSTGRES_URL or
# COFFER_TEST_MYSQL_URL. Safe to run again.
set -euo pipefail

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO=(sudo -n); else
    echo "testdb: not root and no sudo; set COFFER_TEST_POSTGRES_URL and COFFER_TEST_MYSQL_URL instead" >&2
    exit 1
  fi
fi
APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then "${SUDO[@]}" apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # seconds command...
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  "$@"
}

pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432; }

postgres() {
  if ! command -v pg_ctlcluster >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "testdb: installing postgresql"
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  local hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q '^# coffer tests' "$hba"; then
    echo "testdb: PostgreSQL $version: superuser postgres without a password, everyone else with one"
    "${SUDO[@]}" sh -c "{ cat <<'HBA'
# coffer tests: the superuser without a password, every other user with one,
# so that the database engine's tests can prove the credentials it issues
local all postgres trust
host  all postgres 127.0.0.1/32 trust
host  all postgres ::1/128 trust
local all all md5
host  all all 127.0.0.1/32 md5
host  all all ::1/128 md5
# end coffer tests
HBA
cat '$hba'; } > '$hba.new' && chown --reference='$hba' '$hba.new' && chmod --reference='$hba' '$hba.new' && mv '$hba.new' '$hba'"
    if pg_answers; then "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main reload; fi
  fi
  if ! pg_answers; then
    echo "testdb: starting PostgreSQL $version"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for 30 pg_answers
  fi
  if [ -z "$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'")" ]; then
    psql -q -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test'
  fi
}

my_answers() { mariadb -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1'; }

mariadb_server() {
  if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
    echo "testdb: installing mariadb-server"
    apt_install mariadb-server
    if [ -d /etc/mysql/mariadb.conf.d ]; then
      printf '[mysqld]\nskip-name-resolve\nbind-address = 127.0.0.1\n' |
        "${SUDO[@]}" tee /etc/mysql/mariadb.conf.d/99-coffer-tests.cnf >/dev/null
    fi
  fi
  if ! my_answers >/dev/null 2>&1; then
    if ! mariadb -u root -e 'SELECT 1' >/dev/null 2>&1; then
      echo "testdb: starting MariaDB"
      "${SUDO[@]}" install -d -o mysql -g mysql /run/mysqld
      "${SUDO[@]}" start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
      wait_for 60 mariadb -u root -e 'SELECT 1'
    fi
    # root over TCP from 127.0.0.1, without a password (the socket login
    # is the operating system's root).
    "${SUDO[@]}" mariadb -u root -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    wait_for 10 my_answers
  fi
  mariadb -h 127.0.0.1 -u root -e 'CREATE DATABASE IF NOT EXISTS test'
}

[ -n "${COFFER_TEST_POSTGRES_URL:-}" ] || postgres
[ -n "${COFFER_TEST_MYSQL_URL:-}" ] || mariadb_server

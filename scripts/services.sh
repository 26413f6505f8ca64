# Sourced by scripts/test.sh: makes sure the local database services the tests use are up
# (starting them with the machine's own commands if they are not) and tells the tests where
# they are. A service that cannot be started is left unset: its tests print SKIPPED and pass
# nothing off as tested.

wait_for() { # wait_for SECONDS CMD...
    local n=$1; shift
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    return 1
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_up && command -v pg_ctlcluster >/dev/null; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_for 20 pg_up || true
fi
if pg_up; then
    export COFFRE_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:5432/test"
    echo "PostgreSQL: $COFFRE_TEST_POSTGRES_URL"
    # The HA tests restart PostgreSQL itself under load (its own command).
    if command -v pg_ctlcluster >/dev/null; then
        export COFFRE_TEST_POSTGRES_RESTART="pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main restart"
    fi
else
    echo "PostgreSQL: not available (its tests will say SKIPPED)"
fi

my_up() { mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; }
if ! my_up && [ -x /usr/sbin/mariadbd ]; then
    echo "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    wait_for 30 my_up || true
fi
if my_up; then
    export COFFRE_TEST_MYSQL_URL="mysql://root@127.0.0.1:3306/test"
    echo "MariaDB: $COFFRE_TEST_MYSQL_URL"
else
    echo "MariaDB: not available (its tests will say SKIPPED)"
fi

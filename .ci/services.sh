# Installs and starts what the tests need on a fresh Debian machine; sourced by .ci/run.
# Services are started only on loopback, and only what this script started is stopped again.

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
STARTED_PG=""
CREATED_ROLE=""
PG_PORT=""

install_packages() {
    local missing=()
    command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
    command -v pgrep >/dev/null 2>&1 || missing+=(procps)
    command -v sudo >/dev/null 2>&1 || missing+=(sudo)
    command -v restic >/dev/null 2>&1 || missing+=(restic)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    # A venv for ansible-core (tests/it/ansible.rs compares templates with it; pip installs it).
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
    # Real dnf and zypper (with rpm tools to build a local repository) for the updates tests.
    command -v dnf >/dev/null 2>&1 || missing+=(dnf)
    command -v zypper >/dev/null 2>&1 || missing+=(zypper)
    command -v rpmbuild >/dev/null 2>&1 || missing+=(rpm)
    command -v createrepo_c >/dev/null 2>&1 || missing+=(createrepo-c)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    # A real SMTP server for the mail tests (tests/smtp_server.py runs on Debian's python3).
    /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
    # sshfs makes a real network mount that hangs when its server is stopped (tests/it/modules.rs).
    command -v sshfs >/dev/null 2>&1 || missing+=(sshfs)
    # Headless Chromium renders the report into a screenshot (tests/it/report.rs).
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "ci: installing ${missing[*]}"
        # Keep package scripts from starting services (a system sshd would listen on 0.0.0.0:22).
        local policy_added=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
            $SUDO chmod +x /usr/sbin/policy-rc.d
            policy_added=1
        fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        [ -n "$policy_added" ] && $SUDO rm -f /usr/sbin/policy-rc.d
    fi
    # sshd refuses to start as root without its privilege separation directory.
    $SUDO mkdir -p /run/sshd
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

start_postgres() {
    local version
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
        $SUDO pg_createcluster "$version" main >/dev/null
    fi
    local cluster
    cluster=$(pg_lsclusters -h | head -n 1)
    local v name status
    v=$(echo "$cluster" | awk '{print $1}')
    name=$(echo "$cluster" | awk '{print $2}')
    status=$(echo "$cluster" | awk '{print $4}')
    if [ "$status" != "online" ]; then
        # Debian's default listen_addresses is localhost: loopback only.
        $SUDO pg_ctlcluster "$v" "$name" start
        STARTED_PG="$v $name"
    fi
    local port
    port=$(pg_lsclusters -h | head -n 1 | awk '{print $3}')
    PG_PORT="$port"
    # The test role is created here and dropped again by stop_services (the suite leaves no role).
    if [ -z "$(as_postgres psql -p "$port" -qAt -c "SELECT 1 FROM pg_roles WHERE rolname = 'tended'")" ]; then
        as_postgres psql -p "$port" -qAt -c "CREATE ROLE tended LOGIN CREATEDB PASSWORD 'tended'"
        CREATED_ROLE=1
    fi
    export TENDED_TEST_POSTGRES_URL="postgres://tended:tended@127.0.0.1:${port}/postgres"
}

start_services() {
    # Installing packages and starting a database change the machine: only on CI or when asked.
    if [ "${CI:-}" != "true" ] && [ "${TENDED_TEST_SYSTEM:-}" != "1" ]; then
        echo "ci: this script installs packages, starts PostgreSQL and creates a test role and user;" >&2
        echo "ci: run it on a throwaway machine or container with CI=true or TENDED_TEST_SYSTEM=1" >&2
        exit 2
    fi
    install_packages
    start_postgres
}

stop_services() {
    if [ -n "$CREATED_ROLE" ]; then
        # Databases a failed test left behind belong to the role: drop them first.
        for db in $(as_postgres psql -p "$PG_PORT" -qAt -c \
            "SELECT datname FROM pg_database d JOIN pg_roles r ON d.datdba = r.oid WHERE r.rolname = 'tended'"); do
            as_postgres psql -p "$PG_PORT" -qAt -c "DROP DATABASE \"$db\" WITH (FORCE)" || true
        done
        as_postgres psql -p "$PG_PORT" -qAt -c "DROP ROLE IF EXISTS tended" || true
    fi
    if [ -n "$STARTED_PG" ]; then
        # shellcheck disable=SC2086
        $SUDO pg_ctlcluster $STARTED_PG stop || true
    fi
}

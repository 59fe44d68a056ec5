#!/usr/bin/env bash
# Fleet benchmark: a 5-task maintenance playbook against N real OpenSSH servers on loopback, run by
# tended, by ansible-core (forks = N, pipelining on, facts off) and pyinfra (both installed with pip
# into target/bench-venv), and by plain OpenSSH (one `ssh` per host running the five commands in one
# session, fanned out with `xargs -P`; `ssh` with the curve25519 key exchange tended negotiates with
# these servers, `ssh-default` with OpenSSH's default one), in the same run, in rotating order. Prints
# each tool's median wall time, its own CPU time, the target side's CPU time (the machine's busy
# time over the run less the tool's own: the client's servers' cost, and this machine's background
# noise), peak memory, and the ratios to tended. Figures are only
# comparable within one run: the machine is shared.
#
#   bash benches/fleet.sh                       # N = 50 and 200, 3 rounds each, all four tools
#   SIZES="20" ROUNDS=1 TOOLS="tended ssh" bash benches/fleet.sh
#   SIZES=1000 ROUNDS=3 TOOLS="tended ssh pyinfra" bash benches/fleet.sh
#   TENDED_BIN=path (another tended build), FORKS=20 (tended's --forks), TENDED_WRAP="heaptrack -o /tmp/t" (run tended under a profiler)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"50 200"}
ROUNDS=${ROUNDS:-3}
TOOLS=${TOOLS:-"tended ansible pyinfra ssh"}
VENV=$PWD/target/bench-venv

for need in sshd:openssh-server ssh:openssh-client /usr/bin/time:time; do
    bin=${need%%:*}; pkg=${need##*:}
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "$bin" ]; then
        echo "missing $bin: apt-get install $pkg" >&2; exit 1
    fi
done
[ -n "${TENDED_BIN:-}" ] || cargo build --profile dist --quiet
if [[ " $TOOLS " == *" ansible "* || " $TOOLS " == *" pyinfra "* ]]; then
    if [ ! -x "$VENV/bin/ansible-playbook" ] || [ ! -x "$VENV/bin/pyinfra" ]; then
        echo "installing ansible-core and pyinfra into $VENV (pip)" >&2
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q ansible-core pyinfra
    fi
    echo "versions: $("$VENV/bin/ansible-playbook" --version | head -n 1), pyinfra $("$VENV/bin/pyinfra" --version 2>&1 | tail -n 1)" >&2
fi
TENDED=${TENDED_BIN:-$PWD/target/dist/tended}
work=$(mktemp -d)
pids=()
made_user=
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
    if [ -n "$made_user" ]; then sleep 1; userdel tendedbench 2>/dev/null || true; fi
}
trap cleanup EXIT
mkdir -p /run/sshd 2>/dev/null || true

ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
echo "[127.0.0.1]:* $(cut -d' ' -f1,2 "$work/host_key.pub")" > "$work/known_hosts"
# The workload's inputs: a backup file and a pending-updates list.
echo backup > "$work/backup.tar"; printf 'openssl 3.0.15-1~deb12u1 3.0.16-1~deb12u1 security\n' > "$work/updates.txt"
# A service account with a plain /bin/sh, as MSPs use: the login shell runs for every command, and a
# heavy interactive .bashrc (pyenv, conda) would otherwise dominate both tools' figures.
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
    # Created here, removed again on exit (the bench leaves the machine as it found it).
    id tendedbench >/dev/null 2>&1 || { useradd --system --shell /bin/sh --home-dir /nonexistent --no-create-home tendedbench && made_user=1; }
    usermod -p '*' tendedbench   # no password, but not locked: sshd refuses locked accounts
    user=tendedbench
    chmod 755 "$work"; chmod 644 "$work"/backup.tar "$work"/updates.txt
fi
max=$(for n in $SIZES; do echo "$n"; done | sort -n | tail -n 1)
# Ports below the kernel's ephemeral range, so no outgoing connection holds one an sshd needs.
low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
base=$(( 10000 + RANDOM % (low - 10000 - max - 1) ))
for i in $(seq 1 "$max"); do
    port=$((base + i))
    cat > "$work/sshd_$i.conf" <<CONF
ListenAddress 127.0.0.1:$port
HostKey $work/host_key
PidFile none
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
UseDNS no
PermitRootLogin prohibit-password
PasswordAuthentication no
MaxStartups 2000:30:4000
LogLevel ERROR
CONF
    /usr/sbin/sshd -D -f "$work/sshd_$i.conf" -E "$work/sshd.log" & pids+=($!)
done
for i in $(seq 1 "$max"); do
    until (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null; do
        kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { echo "sshd $i did not start:" >&2; tail -n 3 "$work/sshd.log" >&2; exit 1; }
        sleep 0.05
    done
done
# paramiko (pyinfra) does not read wildcard known_hosts patterns: one line per port for it.
for i in $(seq 1 "$max"); do
    echo "[127.0.0.1]:$((base + i)) $(cut -d' ' -f1,2 "$work/host_key.pub")"
done > "$work/known_hosts_each"

cat > "$work/five.yml" <<YML
hosts: all
tasks:
  - command: uptime
  - command: df -P
  - shell: echo \$(( \$(date +%s) - \$(stat -c %Y $work/backup.tar) ))
  - command: cat $work/updates.txt
  - shell: test -e /run/reboot-required || true
YML

cat > "$work/five.ansible.yml" <<YML
- hosts: all
  gather_facts: false
  tasks:
    - command: uptime
    - command: df -P
    - shell: echo \$(( \$(date +%s) - \$(stat -c %Y $work/backup.tar) ))
    - command: cat $work/updates.txt
    - shell: test -e /run/reboot-required || true
YML
cat > "$work/five_pyinfra.py" <<PY
from pyinfra.operations import server
server.shell(name="uptime", commands=["uptime"])
server.shell(name="df", commands=["df -P"])
server.shell(name="backup age", commands=["echo \$(( \$(date +%s) - \$(stat -c %Y $work/backup.tar) ))"])
server.shell(name="updates", commands=["cat $work/updates.txt"])
server.shell(name="reboot required", commands=["test -e /run/reboot-required || true"])
PY
cat > "$work/ansible.cfg" <<CFG
[defaults]
host_key_checking = True
gathering = explicit
interpreter_python = /usr/bin/python3
remote_tmp = /tmp/.ansible-bench
retry_files_enabled = False
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=10s -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes
CFG

# CPU seconds the whole machine has been busy (user, nice, system, irq, softirq, steal): the target
# side's cost is that, over a tool's run, less the tool's own CPU time. (Reading the sshd processes'
# children's times instead would miss every process that outlives its session and is reaped by init.)
busy_cpu() {
    awk -v t="$(getconf CLK_TCK)" '/^cpu / {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t}' /proc/stat
}
# Prints "wall cpu maxrss_kib exit target_cpu" of a command.
measure() {
    local rc=0 before after
    sleep 1
    before=$(busy_cpu)
    /usr/bin/time -q -f "%e %U %S %M" -o "$work/time" "$@" >"$work/last.out" 2>&1 || rc=$?
    # Sessions end just after the client does: let them finish.
    sleep 1
    after=$(busy_cpu)
    [ "$rc" = 0 ] || cat "$work/last.out" >> "$work/err"
    tail -n 1 "$work/time" | awk -v rc="$rc" -v busy="$(echo "$after - $before" | bc)" \
        '{c = $2 + $3; printf "%s %.2f %s %s %.2f\n", $1, c, $4, rc, busy - c}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

run_tool() { # tool n round
    local tool=$1 n=$2 r=$3
    case $tool in
        tended) measure ${TENDED_WRAP:-} "$TENDED" run "$work/five.yml" -i "$work/inv_$n.yml" --db "$work/bench_$n.db" \
                    --known-hosts "$work/known_hosts" --forks "${FORKS:-$n}" ;;
        ansible) ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_SSH_CONTROL_PATH_DIR="$work/cp_${n}_$r" \
                    measure "$VENV/bin/ansible-playbook" -i "$work/inv_$n.ini" -f "$n" "$work/five.ansible.yml" ;;
        pyinfra) measure "$VENV/bin/pyinfra" -y --parallel "$n" "$work/inv_$n.py" "$work/five_pyinfra.py" ;;
        ssh|ssh-default) measure xargs -P "$n" -I{} ssh -q -o BatchMode=yes -o UserKnownHostsFile="$work/known_hosts" \
                    $([ "$tool" = ssh ] && echo "-o KexAlgorithms=curve25519-sha256") \
                    -o StrictHostKeyChecking=yes -i "$work/client_key" -p {} "$user@127.0.0.1" \
                    "uptime; df -P; echo \$(( \$(date +%s) - \$(stat -c %Y $work/backup.tar) )); cat $work/updates.txt; test -e /run/reboot-required || true" \
                    < "$work/ports_$n" ;;
    esac
}

printf '\n%-6s %-16s %8s %8s %10s %9s   %s\n' N tool wall_s cpu_s target_cpu peak_MiB "ratio to tended (wall / cpu / target cpu / mem)"
for n in $SIZES; do
    { echo "client: bench"; echo "hosts:"; for i in $(seq 1 "$n"); do
        printf '  h%s:\n    address: "127.0.0.1"\n    port: %s\n    user: %s\n    key_file: %s\n' "$i" $((base + i)) "$user" "$work/client_key"
    done; } > "$work/inv_$n.yml"
    { echo "[bench]"; for i in $(seq 1 "$n"); do
        echo "h$i ansible_host=127.0.0.1 ansible_port=$((base + i)) ansible_user=$user ansible_ssh_private_key_file=$work/client_key"
    done; } > "$work/inv_$n.ini"
    { echo "hosts = ["; for i in $(seq 1 "$n"); do
        echo "    (\"h$i\", {\"ssh_hostname\": \"127.0.0.1\", \"ssh_port\": $((base + i)), \"ssh_user\": \"$user\", \"ssh_key\": \"$work/client_key\", \"ssh_known_hosts_file\": \"$work/known_hosts_each\", \"ssh_strict_host_key_checking\": \"yes\"}),"
    done; echo "]"; } > "$work/inv_$n.py"
    seq 1 "$n" | sed "s/^/$((base)) /" | awk '{print $1 + $2}' > "$work/ports_$n"
    rm -f "$work"/res_*.txt
    read -r -a tools <<< "$TOOLS"
    for r in $(seq 1 "$ROUNDS"); do
        # Rotate the order so no tool always runs on a warmer (or busier) machine.
        k=$(( (r - 1) % ${#tools[@]} ))
        for tool in "${tools[@]:k}" "${tools[@]:0:k}"; do
            run_tool "$tool" "$n" "$r" >> "$work/res_${tool}_$n.txt"
            if [ "$(tail -n 1 "$work/res_${tool}_$n.txt" | cut -d' ' -f4)" != 0 ]; then
                echo "warning: $tool failed at N=$n (round $r); its output:" >&2; tail -n 5 "$work/last.out" >&2
            fi
        done
    done
    for tool in "${tools[@]}"; do
        f="$work/res_${tool}_$n.txt"
        w=$(cut -d' ' -f1 "$f" | median); c=$(cut -d' ' -f2 "$f" | median); m=$(cut -d' ' -f3 "$f" | median)
        tc=$(cut -d' ' -f5 "$f" | median)
        v=${tool//-/_}
        eval "${v}_w=$w ${v}_c=$c ${v}_m=$m ${v}_t=$tc"
    done
    for tool in "${tools[@]}"; do
        v=${tool//-/_}
        eval "w=\$${v}_w c=\$${v}_c m=\$${v}_m tc=\$${v}_t"
        if [ "$tool" = tended ]; then ratio="1 / 1 / 1 / 1"; else
            ratio="$(echo "scale=2; $w / $tended_w" | bc) / $(echo "scale=2; $c / $tended_c" | bc) / $(echo "scale=2; $tc / $tended_t" | bc) / $(echo "scale=2; $m / $tended_m" | bc)"
        fi
        label=$tool; [ "$tool" = ssh ] && label="openssh-c25519"; [ "$tool" = ssh-default ] && label="openssh-default"
        printf '%-6s %-16s %8s %8s %10s %9.1f   %s\n' "$n" "$label" "$w" "$c" "$tc" "$(echo "$m / 1024" | bc -l)" "$ratio"
    done
    # A fast run that failed proves nothing: show how tended's last run ended.
    [[ " $TOOLS " == *" tended "* ]] && "$TENDED" history --db "$work/bench_$n.db" --last 1 | tail -n 1 | sed 's/^/       tended last run: /'
done
grep -v -e '^$' -e 'Could not chdir' -e '^running ' "$work/err" 2>/dev/null | sort | uniq -c | head -5 || true

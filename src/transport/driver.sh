# The tended driver: one POSIX shell per host runs every task of a run, one by one (see driver.rs).
# Nothing is installed on the host; tended sends this text each time it connects.
#
# Requests, one line each on stdin (the marker is random per task; the task cannot know it):
#   R <marker> <lines> <timeout s> <0|1>   then <lines> lines of shell command; 1: input follows as D/E
#   D <count>                              then <count> bytes for the running task's input
#   E                                      end of the running task's input
#   K                                      kill the running task and everything it started
# A task's stdout and stderr go out as they are written; after the task, stdout gets
# "<marker> <exit code>" and a newline, stderr gets "<marker>". "<marker> x <why>" means the
# driver could not run the task (tended then runs it on a channel of its own).
trap '' PIPE
umask 077
T=
command -v timeout >/dev/null 2>&1 && T=timeout
d=
p=
n=0
k() {
    for s in STOP KILL; do
        ps -A -o pid= -o ppid= 2>/dev/null | awk -v r="$1" '
            { up[$1] = $2 }
            END {
                s[r] = 1
                do { c = 0; for (x in up) if (!(x in s) && (up[x] in s)) { s[x] = 1; c = 1 } } while (c)
                for (x in s) if (x != r) print x
            }' | while read -r x; do kill -"$s" "$x" 2>/dev/null; done
    done
}
printf 'tended-driver 1 %s\n' "${T:-none}"
while IFS=' ' read -r op m a b c; do
    case $op in
    R)
        exec 4>&-
        [ -n "$p" ] && wait "$p" 2>/dev/null
        p=
        cmd=
        i=0
        while [ "$i" -lt "$a" ]; do
            IFS= read -r l || break 2
            if [ "$i" -eq 0 ]; then cmd=$l; else cmd="$cmd
$l"; fi
            i=$((i + 1))
        done
        in=/dev/null
        if [ "$c" = 1 ]; then
            if [ -z "$d" ]; then
                d=${TMPDIR:-/tmp}/tended-driver.$$
                mkdir "$d" 2>/dev/null || d=
            fi
            n=$((n + 1))
            if [ -z "$d" ] || ! mkfifo "$d/$n" 2>/dev/null; then
                printf '%s x cannot make a pipe for the task input in %s\n' "$m" "${TMPDIR:-/tmp}"
                printf '%s' "$m" >&2
                continue
            fi
            in=$d/$n
        fi
        {
            if [ "$b" -gt 0 ] && [ -n "$T" ]; then
                "$T" -s KILL "$b" /bin/sh -c "$cmd"
            else
                /bin/sh -c "$cmd"
            fi <"$in"
            printf '%s %s\n' "$m" "$?"
            printf '%s' "$m" >&2
        } &
        p=$!
        if [ "$c" = 1 ]; then
            exec 4>"$in"
            rm -f "$in"
        fi
        ;;
    D) head -c "$m" | { cat 2>/dev/null >&4; cat >/dev/null; } ;;
    E) exec 4>&- ;;
    K) [ -n "$p" ] && k "$p" ;;
    *) break ;;
    esac
done
[ -n "$p" ] && k "$p"
[ -n "$d" ] && rm -rf "$d"
exit 0

# The tended driver: one POSIX shell per host runs every task of a run, one by one (see driver.rs).
# Nothing is installed on the host; tended sends this text each time it connects.
#
# Requests, one line each on stdin (the marker is random per task; the task cannot know it):
#   R <marker> <lines> <input>   then <lines> lines of shell command. <input>:
#       0  none (/dev/null)
#       1  "D <count>" and that many bytes (or nothing: empty) follow at once, then "E"
#       2  sudo may ask for a password: the task runs in the background with its input on a
#          private pipe, fed by "D <count>" frames as tended decides; "E" ends it
# The hello is "tended-driver 1 <pid> <took>". The first task may come with the driver's start
# instead (_td_1m, its marker, and _td_1c, its command, in the environment; never with input):
# <took> is then 1 and it runs right after the hello, which saves a round trip, since the server
# takes no input before the command starts. The hello goes to both streams: what comes before it
# on either is the login's chatter, not the first task's. A task's
# stdout and stderr go out as they are written; after the task, stdout gets
# "<marker> <exit code>" and a newline, stderr gets "<marker>". "<marker> x <why>" means the
# driver could not run the task (tended then runs it on a channel of its own).
# A task runs in a subshell of the driver (a fork, as `sh -c` costs an exec), in the foreground,
# with the signal dispositions and umask the login shell gave the driver. tended ends a task past
# its timeout by killing the driver's descendants from a channel of its own (the pid is in the
# hello); a task with become has the host's `timeout` inside sudo, as on a channel of its own.
_td_d=
_td_p=
_td_n=0
_td_done() {
    printf '%s %s\n' "$_td_m" "$1"
    printf '%s' "$_td_m" >&2
}
_td_t=0
[ -n "${_td_1m-}" ] && _td_t=1
printf 'tended-driver 1 %s %s\n' "$$" "$_td_t"
printf 'tended-driver 1 %s %s\n' "$$" "$_td_t" >&2
if [ "$_td_t" = 1 ]; then
    _td_m=$_td_1m
    _td_cmd=$_td_1c
    unset _td_1m _td_1c
    (eval "$_td_cmd") </dev/null
    _td_done "$?"
fi
while IFS=' ' read -r _td_op _td_m _td_a _td_c; do
    case $_td_op in
    R)
        exec 4>&-
        [ -n "$_td_p" ] && wait "$_td_p" 2>/dev/null
        _td_p=
        _td_cmd=
        _td_i=0
        while [ "$_td_i" -lt "$_td_a" ]; do
            IFS= read -r _td_l || break 2
            if [ "$_td_i" -eq 0 ]; then _td_cmd=$_td_l; else _td_cmd="$_td_cmd
$_td_l"; fi
            _td_i=$((_td_i + 1))
        done
        case $_td_c in
        0)
            (eval "$_td_cmd") </dev/null
            _td_done "$?"
            ;;
        1)
            IFS=' ' read -r _td_op _td_a || break
            if [ "$_td_op" = D ]; then
                # The task may stop reading early: the rest of its input is still taken off.
                head -c "$_td_a" | { (eval "$_td_cmd"); _td_r=$?; cat >/dev/null; exit "$_td_r"; }
                _td_r=$?
                IFS=' ' read -r _td_op || break
            else
                (eval "$_td_cmd") </dev/null
                _td_r=$?
            fi
            _td_done "$_td_r"
            ;;
        2)
            if [ -z "$_td_d" ]; then
                _td_d=${TMPDIR:-/tmp}/tended-driver.$$
                mkdir -m 700 "$_td_d" 2>/dev/null || _td_d=
            fi
            _td_n=$((_td_n + 1))
            if [ -z "$_td_d" ] || ! mkfifo -m 600 "$_td_d/$_td_n" 2>/dev/null; then
                printf '%s x cannot make a private pipe for the task input in %s\n' "$_td_m" "${TMPDIR:-/tmp}"
                printf '%s' "$_td_m" >&2
                continue
            fi
            { (eval "$_td_cmd") <"$_td_d/$_td_n"; _td_done "$?"; } &
            _td_p=$!
            exec 4>"$_td_d/$_td_n"
            rm -f "$_td_d/$_td_n"
            ;;
        esac
        ;;
    D) head -c "$_td_m" | { cat 2>/dev/null >&4; cat >/dev/null; } ;;
    E) exec 4>&- ;;
    *) break ;;
    esac
done
# tended is gone: a task still waiting in the background goes with it.
[ -n "$_td_p" ] && _td_k "$_td_p"
wait
[ -n "$_td_d" ] && rm -rf "$_td_d"
exit 0

//! The driver's framing, and the real `driver.sh` under the machine's `/bin/sh` fed hostile input.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;

use super::*;

const M: &str = "[tended-end-0123456789abcdef0123456789abcdef]";

proptest! {
    /// However the stream is cut, the task gets exactly what came before the marker, even when
    /// its output holds pieces of the marker.
    #[test]
    fn the_marker_is_found_across_any_cuts(
        pieces in proptest::collection::vec(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            (1..M.len()).prop_map(|n| M.as_bytes()[..n].to_vec()),
        ], 0..12),
        tail in proptest::collection::vec(any::<u8>(), 0..20),
        cuts in proptest::collection::vec(1usize..30, 1..20),
    ) {
        let mut task: Vec<u8> = pieces.concat();
        // The task's own output cannot hold the marker (it cannot know it); drop any it happens to.
        while let Some(at) = memchr::memmem::find(&task, M.as_bytes()) {
            task.remove(at);
        }
        let mut stream = task.clone();
        stream.extend_from_slice(M.as_bytes());
        stream.extend_from_slice(&tail);
        let mut scan = Scan::new(M);
        let mut got = Vec::new();
        let mut rest = &stream[..];
        for c in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let n = (*c).min(rest.len());
            got.extend(scan.feed(&rest[..n]));
            rest = &rest[n..];
        }
        prop_assert_eq!(got, task);
        prop_assert_eq!(scan.after(), Some(&tail[..]));
    }

    /// Any status line is read or refused, never a panic.
    #[test]
    fn any_status_line_is_safe(line in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = status(&line);
    }
}

#[test]
fn output_that_cannot_start_the_marker_is_passed_on_at_once() {
    let mut scan = Scan::new(M);
    // A sudo prompt at the end of stderr: the gate must see it now.
    assert_eq!(scan.feed(b"[tended-prompt-0f]"), b"[tended-prompt-0f]");
    assert_eq!(scan.feed(b"abc[tended-e"), b"abc");
    assert_eq!(scan.feed(b"x"), b"[tended-ex");
    assert_eq!(scan.after(), None);
}

#[test]
fn status_lines() {
    assert_eq!(status(b" 0"), Some(Status::Exit(0)));
    assert_eq!(status(b" 137"), Some(Status::Exit(137)));
    assert_eq!(
        status(b" x cannot make a pipe"),
        Some(Status::Refused("cannot make a pipe".into()))
    );
    assert_eq!(status(b" zero"), None);
}

/// One task's frames for the driver (what `Driver::run` sends): mode 0 no input, 1 input at once,
/// 2 in the background with input on a pipe (`input` is then sent at once too).
fn request(marker: &str, command: &str, mode: u8, input: Option<&[u8]>) -> Vec<u8> {
    let mut f = request_frame(marker, command, mode);
    if let Some(i) = input {
        input_frames(&mut f, i, true);
    }
    f
}

/// Splits the driver's streams into each task's (stdout, stderr, status).
fn tasks(
    mut out: &[u8],
    mut err: &[u8],
    markers: &[&str],
) -> Vec<(Vec<u8>, Vec<u8>, Option<Status>)> {
    let mut got = Vec::new();
    for m in markers {
        let (mut so, mut se) = (Scan::new(m), Scan::new(m));
        let o = so.feed(out);
        let e = se.feed(err);
        let after = so.after().unwrap_or_else(|| {
            panic!("no stdout marker for {m}: {}", String::from_utf8_lossy(out))
        });
        let nl = after.iter().position(|&b| b == b'\n').expect("status line");
        got.push((o, e, status(&after[..nl])));
        let used = out.len() - after.len() + nl + 1;
        out = &out[used..];
        err = &err[err.len() - se.after().expect("stderr marker").len()..];
    }
    got
}

fn driver(env: &[(&str, &str)]) -> std::process::Child {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(SCRIPT);
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /bin/sh")
}

/// The driver's stdout (or stderr) after its hello line.
fn after_hello(out: &[u8]) -> &[u8] {
    let hello = memchr::memmem::find(out, HELLO).expect("hello");
    let nl = out[hello..]
        .iter()
        .position(|&b| b == b'\n')
        .expect("hello line");
    &out[hello + nl + 1..]
}

/// Sends the frames, waits for the last task's status (as tended does before it goes: the end of
/// input kills a task still running), then ends the driver.
fn finish(mut child: std::process::Child, frames: &[u8], last: &str) -> (Vec<u8>, Vec<u8>) {
    finish_started(&mut child, frames, last)
}

/// [`finish`] for a child the caller keeps.
fn finish_started(
    child: &mut std::process::Child,
    frames: &[u8],
    last: &str,
) -> (Vec<u8>, Vec<u8>) {
    use std::io::Read;
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(frames).expect("write frames");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !memchr::memmem::find(&seen, last.as_bytes())
        .is_some_and(|at| seen[at..].contains(&b'\n'))
    {
        let n = stdout.read(&mut buf).expect("read driver");
        assert!(
            n > 0,
            "the driver ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    drop(stdin);
    stdout.read_to_end(&mut seen).expect("read driver");
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_end(&mut stderr)
        .expect("read driver stderr");
    assert!(
        child.wait().expect("driver").success(),
        "the driver ends cleanly"
    );
    // The hello may have been read already (by a test that needs the driver's pid).
    let rest = match memchr::memmem::find(&seen, HELLO) {
        Some(_) => after_hello(&seen).to_vec(),
        None => seen,
    };
    (rest, after_hello(&stderr).to_vec())
}

#[test]
fn the_real_driver_runs_tasks_in_order_with_their_own_input_and_exit_codes() {
    let binary: Vec<u8> = (0u8..=255).chain([0, 0, b'\n', b'K', b'\n']).collect();
    let mut frames = Vec::new();
    // Command lines that look like requests are the command's, not the driver's.
    frames.extend(request(
        "[m1]",
        "printf '%s\\n' \"$0 'q'\" \"a  b\"\necho err >&2\nK\nR [m9] 1 0 0\nexit 3",
        0,
        None,
    ));
    frames.extend(request("[m2]", "cat; echo; id -u", 1, Some(&binary)));
    // Input the task never reads is still taken off the stream: the next task is not confused.
    frames.extend(request("[m3]", "true", 1, Some(&vec![b'R'; 200_000])));
    frames.extend(request("[m4]", "cat", 1, Some(b"")));
    frames.extend(request("[m5]", "cat; echo \"[m5\"", 0, None));
    // A task's programs have the signal dispositions a command on its own channel would: SIGINT
    // ends them.
    frames.extend(request(
        "[m6]",
        "sh -c 'kill -INT $$; echo survived'",
        0,
        None,
    ));
    // The driver's own variables are not in a task's way.
    frames.extend(request(
        "[m7]",
        "echo \"${cmd-u}${m-u}${d-u}${p-u}${T-u}${n-u}\"",
        0,
        None,
    ));
    let (out, err) = finish(driver(&[]), &frames, "[m7]");
    let t = tasks(
        &out,
        &err,
        &["[m1]", "[m2]", "[m3]", "[m4]", "[m5]", "[m6]", "[m7]"],
    );
    assert_eq!(t[6].0, b"uuuuuu\n");
    assert_eq!(t[0].0, b"/bin/sh 'q'\na  b\n");
    let err0 = String::from_utf8_lossy(&t[0].1);
    assert!(
        err0.starts_with("err\n") && err0.matches("not found").count() == 2,
        "`K` and `R` were run as commands: {err0:?}"
    );
    assert_eq!(t[0].2, Some(Status::Exit(3)));
    let mut expect = binary.clone();
    expect.push(b'\n');
    let uid = String::from_utf8_lossy(&Command::new("id").arg("-u").output().expect("id").stdout)
        .into_owned();
    expect.extend_from_slice(uid.as_bytes());
    assert_eq!(
        t[1].0, expect,
        "binary input with NUL bytes arrives exactly"
    );
    assert_eq!(t[1].2, Some(Status::Exit(0)));
    assert_eq!(t[2].2, Some(Status::Exit(0)));
    assert_eq!(
        (t[3].0.as_slice(), &t[3].2),
        (&b""[..], &Some(Status::Exit(0)))
    );
    assert_eq!(
        (t[5].0.as_slice(), &t[5].2),
        (&b""[..], &Some(Status::Exit(130))),
        "SIGINT is not ignored in a task"
    );
    assert_eq!(
        t[4].0,
        b"[m5\n",
        "a piece of the marker is output: {:?}",
        String::from_utf8_lossy(&out)
    );
}

/// The first piece of the driver's stdout (its hello, and perhaps what follows).
fn first_read(child: &mut std::process::Child) -> Vec<u8> {
    use std::io::Read;
    let mut hello = [0u8; 64];
    let n = child
        .stdout
        .as_mut()
        .expect("stdout")
        .read(&mut hello)
        .expect("hello");
    hello[..n].to_vec()
}

/// The driver's process id, from its hello.
fn hello_pid(out: &[u8]) -> u32 {
    let at = memchr::memmem::find(out, HELLO).expect("hello") + HELLO.len();
    let nl = out[at..]
        .iter()
        .position(|&b| b == b'\n')
        .expect("hello line");
    std::str::from_utf8(&out[at..at + nl])
        .expect("utf-8")
        .split_whitespace()
        .next()
        .expect("a pid")
        .parse()
        .expect("a pid")
}

#[test]
fn tendeds_kill_ends_a_task_and_all_it_started_and_the_driver_serves_the_next() {
    let tag = format!("tended-drv-kill-{}", std::process::id());
    let mut child = driver(&[]);
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(&request(
            "[k1]",
            &format!("sh -c 'sleep 300; echo {tag}' & sleep 301; echo {tag}"),
            0,
            None,
        ))
        .expect("write");
    let hello = first_read(&mut child);
    let pid = hello_pid(&hello);
    std::thread::sleep(std::time::Duration::from_millis(500));
    // What tended runs on a channel of its own when the task is past its timeout.
    let killed = Command::new("/bin/sh")
        .arg("-c")
        .arg(kill_command(pid))
        .status()
        .expect("kill");
    assert!(killed.success());
    let (out, err) = finish(child, &request("[k3]", "echo after", 0, None), "[k3]");
    let out = [after_hello(&hello), &out[..]].concat();
    let t = tasks(&out, &err, &["[k1]", "[k3]"]);
    assert_eq!(
        t[0].2,
        Some(Status::Exit(137)),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        (t[1].0.as_slice(), &t[1].2),
        (&b"after\n"[..], &Some(Status::Exit(0)))
    );
    assert_gone(&tag);
}

#[test]
fn a_background_task_without_a_private_pipe_is_refused_not_run_blind() {
    // Input written while the task runs needs a pipe in TMPDIR; where none can be made the task
    // is refused (tended runs it on a channel of its own), and the next one runs.
    let mut frames = request("[k2]", "cat", 2, Some(b"x"));
    frames.extend(request("[k4]", "cat", 1, Some(b"y")));
    let (out, err) = finish(
        driver(&[("TMPDIR", "/nonexistent/tended")]),
        &frames,
        "[k4]",
    );
    let t = tasks(&out, &err, &["[k2]", "[k4]"]);
    assert!(
        matches!(&t[0].2, Some(Status::Refused(why)) if why.contains("/nonexistent")),
        "{:?}",
        t[0].2
    );
    assert_eq!(
        (t[1].0.as_slice(), &t[1].2),
        (&b"y"[..], &Some(Status::Exit(0))),
        "input given at once needs no pipe"
    );
}

#[test]
fn a_background_task_gets_its_input_when_tended_sends_it_and_ends_when_tended_goes_away() {
    let tag = format!("tended-drv-eof-{}", std::process::id());
    let mut frames = request("[b1]", "read -r a; echo \"got $a\"", 2, None);
    frames.extend_from_slice(b"D 4\npw1\nE\n");
    frames.extend(request("[b2]", &format!("sleep 302; echo {tag}"), 2, None));
    let mut child = driver(&[]);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&frames).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(700));
    drop(stdin);
    let out = child.wait_with_output().expect("driver output");
    assert!(out.status.success());
    let t = tasks(
        after_hello(&out.stdout),
        after_hello(&out.stderr),
        &["[b1]"],
    );
    assert_eq!(
        (t[0].0.as_slice(), &t[0].2),
        (&b"got pw1\n"[..], &Some(Status::Exit(0)))
    );
    assert_gone(&tag);
}

/// No process whose command line holds `tag` is left running.
fn assert_gone(tag: &str) {
    let ps = Command::new("pgrep")
        .args(["-f", tag])
        .output()
        .expect("pgrep");
    assert!(
        ps.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

/// The first task comes with the driver's start: run as a login shell runs the start command,
/// it runs first, exactly as written, then the tasks on the driver's input; neither it nor its
/// marker is left in the tasks' environment.
#[test]
fn the_first_task_that_comes_with_the_start_runs_first_and_leaves_no_trace() {
    let hostile = "printf '%s|' \"it's\" 'a  \"b\"' '$(id)' `echo x`\necho err >&2\nexit 4";
    let start = start_command(Some(("[f1]", hostile)));
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&start)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the start command");
    let frames = request("[f2]", "env | grep -c _td_1 || true", 0, None);
    let hello = first_read(&mut child);
    assert!(
        String::from_utf8_lossy(&hello).contains(" 1\n"),
        "the hello says the driver took the first task: {:?}",
        String::from_utf8_lossy(&hello)
    );
    let (out, err) = finish_started(&mut child, &frames, "[f2]");
    let out = [after_hello(&hello), &out[..]].concat();
    let t = tasks(&out, &err, &["[f1]", "[f2]"]);
    assert_eq!(
        (t[0].0.as_slice(), t[0].1.as_slice(), &t[0].2),
        (
            &b"it's|a  \"b\"|$(id)|x|"[..],
            &b"err\n"[..],
            &Some(Status::Exit(4))
        )
    );
    assert_eq!(
        (t[1].0.as_slice(), &t[1].2),
        (&b"0\n"[..], &Some(Status::Exit(0)))
    );
    // Without the first task in its environment the driver says so, and runs none.
    let (out, _) = finish(driver(&[]), &request("[f3]", "true", 0, None), "[f3]");
    assert!(
        out.starts_with(b"[f3] 0"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}

fn data(d: &[u8]) -> ChannelMsg {
    ChannelMsg::Data {
        data: d.to_vec().into(),
    }
}

fn err_data(d: &[u8]) -> ChannelMsg {
    ChannelMsg::ExtendedData {
        data: d.to_vec().into(),
        ext: 1,
    }
}

proptest! {
    /// However the hellos arrive cut, after any chatter, what follows them on each stream is the
    /// first task's, exactly, and the pid is the hello's.
    #[test]
    fn the_hello_is_found_on_both_streams_across_any_cuts(
        chatter_out in proptest::collection::vec(any::<u8>(), 0..300),
        chatter_err in proptest::collection::vec(any::<u8>(), 0..300),
        task_out in proptest::collection::vec(any::<u8>(), 0..50),
        task_err in proptest::collection::vec(any::<u8>(), 0..50),
        cut in 1usize..40,
        pid in 1u32..4_000_000,
    ) {
        // Chatter cannot hold the hello itself (then it would be the hello).
        let clean = |c: &[u8]| String::from_utf8_lossy(c).replace("tended-driver", "").into_bytes();
        let hello = format!("tended-driver 1 {pid}\n").into_bytes();
        let out = [clean(&chatter_out), hello.clone(), task_out.clone()].concat();
        let err = [clean(&chatter_err), hello, task_err.clone()].concat();
        let mut g = Greeting::new(Duration::from_secs(10));
        let mut greeted = false;
        for (o, e) in out.chunks(cut).map(Some).chain(std::iter::repeat(None)).zip(
            err.chunks(cut).map(Some).chain(std::iter::repeat(None))
        ).take_while(|(o, e)| o.is_some() || e.is_some()) {
            for msg in [o.map(data), e.map(err_data)].into_iter().flatten() {
                match g.take(Some(&msg)) {
                    Hello::Greeted => greeted = true,
                    Hello::Pending => {}
                    Hello::Gone(why) => prop_assert!(false, "gone: {}", why),
                }
            }
        }
        prop_assert!(greeted);
        prop_assert_eq!(g.pid, Some(pid));
        prop_assert_eq!(g.out_rest.as_deref(), Some(&task_out[..]));
        prop_assert_eq!(g.err_rest.as_deref(), Some(&task_err[..]));
    }
}

#[test]
fn long_chatter_before_the_hello_is_tolerated_and_an_end_without_it_is_said() {
    let mut g = Greeting::new(Duration::from_secs(10));
    let noise = vec![b'.'; NOISE_CAP * 3];
    assert!(matches!(
        g.take(Some(&data(b"Welcome to acme\n"))),
        Hello::Pending
    ));
    assert!(matches!(g.take(Some(&data(&noise))), Hello::Pending));
    assert!(g.out.len() <= NOISE_CAP, "only a tail is kept");
    assert!(matches!(
        g.take(Some(&err_data(b"tended-driver 1 42\n"))),
        Hello::Pending
    ));
    assert!(matches!(
        g.take(Some(&data(b"tended-driver 1 42 1\nout"))),
        Hello::Greeted
    ));
    assert_eq!(
        (g.pid, g.took_first, g.out_rest.as_deref()),
        (Some(42), true, Some(&b"out"[..]))
    );
    // The hello and a fast first task's output in one piece larger than the chatter kept.
    let mut g = Greeting::new(Duration::from_secs(10));
    let output = vec![b'x'; NOISE_CAP * 2];
    g.take(Some(&err_data(b"tended-driver 1 44 1\n")));
    let piece = [&b"tended-driver 1 44 1\n"[..], &output].concat();
    assert!(matches!(g.take(Some(&data(&piece))), Hello::Greeted));
    assert_eq!(g.out_rest.as_deref(), Some(&output[..]));
    let mut g = Greeting::new(Duration::from_secs(10));
    g.take(Some(&data(b"tended-driver 1 43 0\n")));
    assert_eq!(
        (g.pid, g.took_first),
        (Some(43), false),
        "a shell that did not pass it on"
    );

    let mut g = Greeting::new(Duration::from_secs(10));
    g.take(Some(&err_data(
        b"This account is currently not available.\n",
    )));
    g.take(Some(&ChannelMsg::ExitStatus { exit_status: 1 }));
    match g.take(Some(&ChannelMsg::Close)) {
        Hello::Gone(why) => assert_eq!(
            why,
            "the login shell ran something else and it ended (exit 1: `This account is currently not available.`)"
        ),
        _ => panic!("a closed channel without a hello is the end"),
    }
    let mut g = Greeting::new(Duration::from_secs(10));
    assert!(matches!(
        g.take(Some(&data(b"tended-driver 1 x\n"))),
        Hello::Gone(_)
    ));
    let mut g = Greeting::new(Duration::from_secs(10));
    assert!(matches!(g.take(Some(&ChannelMsg::Failure)), Hello::Gone(_)));
    assert!(
        Greeting::new(Duration::from_secs(10))
            .silent()
            .contains("connect timeout")
    );
}

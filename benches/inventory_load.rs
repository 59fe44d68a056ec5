//! How long loading a 100,000-host inventory takes (one client file, and 100 clients of 1,000),
//! against a baseline measured in the same run: parsing the same YAML alone, which any loader pays.
//! `cargo bench --bench inventory_load` (the goal: under two seconds for 100,000 hosts).

use std::time::Instant;

fn client(id: &str, n: usize, start: usize) -> String {
    let mut s = format!("client: {id}\ngroups:\n  web:\n    vars: {{role: web}}\nhosts:\n");
    for i in start..start + n {
        s.push_str(&format!(
            "  h{i:06}: {{address: 10.{}.{}.{}, groups: [web], vars: {{rack: r{}}}}}\n",
            i / 65536 % 256,
            i / 256 % 256,
            i % 256,
            i % 40
        ));
    }
    s
}

fn best_of<T>(rounds: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = dir.path().join("one");
    let many = dir.path().join("many");
    std::fs::create_dir_all(&one).expect("mkdir");
    std::fs::create_dir_all(&many).expect("mkdir");
    std::fs::write(one.join("big.yml"), client("big", 100_000, 0)).expect("write");
    for c in 0..100 {
        std::fs::write(
            many.join(format!("c{c:03}.yml")),
            client(&format!("c{c:03}"), 1000, c * 1000),
        )
        .expect("write");
    }
    let parse = best_of(3, || {
        tended::yaml::Source::read(&one.join("big.yml"))
            .expect("read")
            .parse()
            .expect("parses")
    });
    let load_one = best_of(3, || {
        let inv = tended::inventory::Inventory::load(&one).expect("loads");
        assert_eq!(inv.hosts.len(), 100_000);
        inv
    });
    let load_many = best_of(3, || {
        let inv = tended::inventory::Inventory::load(&many).expect("loads");
        assert_eq!(inv.hosts.len(), 100_000);
        inv
    });
    println!("YAML parse alone (baseline): {parse:.3} s");
    println!(
        "100,000 hosts, one file:     {load_one:.3} s ({:.1}x the parse)",
        load_one / parse
    );
    println!(
        "100,000 hosts, 100 files:    {load_many:.3} s ({:.1}x the parse)",
        load_many / parse
    );
}

//! SIGKILL at any point of a registration leaves the whole version or none. A child `steward versions register`
//! is killed at a random moment, many times; then `steward doctor` must find every version's artifacts intact and
//! the version numbers without gaps, and registering again must work.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// A small deterministic generator (xorshift), seeded per run so failures can be reproduced from the log.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn kill_registrations_at_random_points(store: Option<&str>) {
    const ATTEMPTS: usize = 40;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ok(home, store, &["models", "create", "crashy"]);

    // Each package differs (a counter file), so every attempt writes new blobs, not just metadata.
    let payload: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let package = |n: usize| {
        let folder = home.join(format!("package-{n}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(IRIS_MODEL, folder.join("model.onnx")).unwrap();
        std::fs::write(folder.join("weights.bin"), &payload).unwrap();
        std::fs::write(folder.join("attempt.txt"), n.to_string()).unwrap();
        folder
    };

    // How long one undisturbed registration takes, to spread the kills over it: the fastest of a few (the first
    // one also warms caches and creates the store, so it is not representative).
    ok(
        home,
        store,
        &[
            "versions",
            "register",
            "crashy",
            package(0).to_str().unwrap(),
        ],
    );
    let mut full = Duration::MAX;
    for calibration in 0..3 {
        let folder = package(1000 + calibration);
        let started = Instant::now();
        ok(
            home,
            store,
            &["versions", "register", "crashy", folder.to_str().unwrap()],
        );
        full = full.min(started.elapsed());
    }

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}, one registration takes {full:?}");
    let mut random = Random(seed);
    let (mut killed, mut completed) = (0, 0);
    for attempt in 1..=ATTEMPTS {
        let folder = package(attempt);
        let mut child = steward(home, store)
            .args(["versions", "register", "crashy", folder.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = full.mul_f64((random.next() % 1000) as f64 / 1000.0);
        std::thread::sleep(delay);
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(
                    status.success(),
                    "attempt {attempt} failed by itself: {status}"
                );
                completed += 1;
                // The machine got faster than calibrated: aim earlier from now on.
                full = full.mul_f64(0.8);
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                let _ = child.wait();
                killed += 1;
            }
        }
    }
    eprintln!("{killed} registrations killed, {completed} completed");
    assert!(
        killed >= ATTEMPTS / 4,
        "too few kills landed mid-registration ({killed})"
    );

    let report = json(home, store, &["doctor"]);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
    let versions = json(
        home,
        store,
        &["versions", "list", "crashy", "--limit", "1000"],
    );
    let numbers: Vec<i64> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
    assert_eq!(numbers, expected, "version numbers have gaps");
    // The four calibration registrations plus every completed one are there; killed ones that had committed
    // may be too.
    assert!(
        numbers.len() >= 4 + completed,
        "a completed registration is missing"
    );
    let after = ok(
        home,
        store,
        &[
            "versions",
            "register",
            "crashy",
            package(999).to_str().unwrap(),
        ],
    );
    assert!(
        after.contains(&format!("registered crashy/{}", numbers.len() + 1)),
        "{after}"
    );
    // Give the OS a moment to release the killed processes' files before the temp dir is removed.
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn sqlite_registration_survives_sigkill_at_any_point() {
    kill_registrations_at_random_points(None);
}

#[test]
fn postgres_registration_survives_sigkill_at_any_point() {
    let Some(store) = postgres_store("postgres_registration_survives_sigkill_at_any_point") else {
        return;
    };
    kill_registrations_at_random_points(Some(&store));
}

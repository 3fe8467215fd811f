//! Virtual actors: activation on demand, passivation when idle.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use subvisor_actors::RegistrySettings;
use subvisor_actors::domain::UserId;
use subvisor_actors::messages::View;
use subvisor_actors::store::Backend;

use crate::helpers::{System, both_backends, settings};

const USERS: i64 = 100_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

both_backends!(hundred_thousand_idle_actors_passivate);

#[allow(unsafe_code)] // malloc_trim: returns freed pages so RSS shows what passivation released
async fn hundred_thousand_idle_actors_passivate(backend: Backend) {
    let sys = System::start(
        backend,
        RegistrySettings {
            idle_timeout: Duration::from_secs(10),
            ..settings()
        },
    )
    .await;
    let before = rss_kib();
    let started = Instant::now();
    let seen = stream::iter(1..=USERS)
        .map(|n| {
            let registry = sys.registry.clone();
            async move {
                let user = UserId::new(n).expect("valid");
                registry.send(user, View).await.expect("view")
            }
        })
        .buffer_unordered(256)
        .filter(|v| std::future::ready(v.is_none()))
        .count()
        .await;
    assert_eq!(seen as i64, USERS, "unknown users read as None");
    let activated = sys.registry.stats();
    let peak_rss = rss_kib();
    let activation_time = started.elapsed();
    // How many are alive at once depends on machine speed versus the idle
    // timeout; that all were activated and all go away does not.
    assert_eq!(activated.activations as i64, USERS);

    let deadline = Instant::now() + Duration::from_secs(60);
    while sys.registry.live() > USERS / 1000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let idle = sys.registry.stats();
    let after = rss_kib();
    // glibc keeps freed pages; give them back to see what passivation released.
    // SAFETY: malloc_trim only returns free heap pages to the OS.
    unsafe { libc::malloc_trim(0) };
    println!(
        "[{backend:?}] {USERS} activations in {activation_time:?}; RSS before {before} KiB, \
         with {} live actors {peak_rss} KiB, after passivation ({} live) {after} KiB, \
         after malloc_trim {} KiB",
        activated.live,
        idle.live,
        rss_kib()
    );
    assert!(
        idle.live <= USERS / 1000,
        "live actors after idling: {idle:?}"
    );
    assert!(idle.registered as i64 <= USERS / 1000);
    assert!(idle.passivations as i64 >= USERS - USERS / 1000);

    // A passivated user is transparently re-activated.
    let again = sys
        .registry
        .send(UserId::new(42).expect("valid"), View)
        .await;
    assert!(matches!(again, Ok(None)));
}

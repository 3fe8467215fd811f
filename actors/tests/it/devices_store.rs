//! The store holds the device limit by itself (no actor in front): concurrent
//! registrations of new devices never pass it, on SQLite and PostgreSQL —
//! what two instances, each with its own actor for the user, would do.

use std::sync::Arc;

use futures_util::future::join_all;
use subvisor_actors::domain::{Admission, DeviceInfo, Hwid};
use subvisor_actors::store::Store;

use crate::helpers::{both_backends, ctx, fresh_store, nodes, t0, uid};

both_backends!(
    concurrent_registrations_never_pass_the_limit,
    known_devices_and_removals
);

fn device(hwid: &str) -> DeviceInfo {
    DeviceInfo {
        hwid: Hwid::new(hwid).expect("hwid"),
        os: Some("Android 14".into()),
        model: None,
        app: Some("Happ/3.5.0".into()),
    }
}

async fn granted(store: &Arc<dyn Store>, user: i64) {
    let nodes = nodes();
    store
        .grant_days(&ctx(t0(), &nodes), uid(user), 30)
        .await
        .expect("grant");
}

async fn concurrent_registrations_never_pass_the_limit(backend: subvisor_actors::store::Backend) {
    const LIMIT: u32 = 3;
    let db = fresh_store(backend, 8).await;
    let user = 4242;
    granted(&db.store, user).await;
    let nodes = nodes();
    let admissions = join_all((0..LIMIT + 5).map(|i| {
        let store = db.store.clone();
        let nodes = nodes.clone();
        async move {
            store
                .register_device(
                    &ctx(t0(), &nodes),
                    uid(user),
                    &device(&format!("d{i}")),
                    LIMIT,
                )
                .await
                .expect("register")
        }
    }))
    .await;
    let registered = admissions
        .iter()
        .filter(|a| matches!(a, Admission::Registered { .. }))
        .count();
    let refused = admissions
        .iter()
        .filter(|a| matches!(a, Admission::Refused { limit: LIMIT, .. }))
        .count();
    assert_eq!((registered, refused), (3, 5), "{admissions:?}");
    let list = db.store.devices(uid(user)).await.expect("devices");
    assert_eq!(list.devices.len(), 3);
}

async fn known_devices_and_removals(backend: subvisor_actors::store::Backend) {
    let db = fresh_store(backend, 4).await;
    let (user, other) = (4243, 4244);
    granted(&db.store, user).await;
    granted(&db.store, other).await;
    let nodes = nodes();
    let c = ctx(t0(), &nodes);
    let s = &db.store;
    assert_eq!(
        s.register_device(&c, uid(user), &device("a"), 1)
            .await
            .unwrap(),
        Admission::Registered { active: 1 }
    );
    assert_eq!(
        s.register_device(&c, uid(user), &device("a"), 1)
            .await
            .unwrap(),
        Admission::Known
    );
    assert_eq!(
        s.register_device(&c, uid(user), &device("b"), 1)
            .await
            .unwrap(),
        Admission::Refused {
            limit: 1,
            active: 1
        }
    );
    // The same hwid under another user is another device.
    assert_eq!(
        s.register_device(&c, uid(other), &device("a"), 1)
            .await
            .unwrap(),
        Admission::Registered { active: 1 }
    );
    // 0: no limit.
    assert_eq!(
        s.register_device(&c, uid(other), &device("b"), 0)
            .await
            .unwrap(),
        Admission::Registered { active: 2 }
    );
    let later = t0() + chrono::Duration::minutes(5);
    assert!(s.device_seen(uid(user), &device("a"), later).await.unwrap());
    assert!(!s.device_seen(uid(user), &device("b"), later).await.unwrap());
    let mine = s.devices(uid(user)).await.unwrap();
    assert_eq!(mine.devices[0].last_seen, later);
    assert_eq!(mine.devices[0].first_seen, t0());
    // Another user's device id removes nothing.
    let theirs = s.devices(uid(other)).await.unwrap().devices[0].id;
    assert!(!s.remove_device(&c, uid(user), theirs).await.unwrap());
    assert!(
        s.remove_device(&c, uid(user), mine.devices[0].id)
            .await
            .unwrap()
    );
    assert_eq!(
        s.register_device(&c, uid(user), &device("b"), 1)
            .await
            .unwrap(),
        Admission::Registered { active: 1 }
    );
    assert_eq!(s.reset_devices(&c, uid(other)).await.unwrap(), 2);
    assert!(s.devices(uid(other)).await.unwrap().devices.is_empty());
    assert_eq!(s.devices(uid(user)).await.unwrap().devices.len(), 1);
}

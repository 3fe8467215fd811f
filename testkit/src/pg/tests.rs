//! Tests of the throwaway PostgreSQL clusters: start, databases, stop and
//! cleanup.

use std::net::{Ipv4Addr, TcpListener, TcpStream};

use super::*;
use crate::free_port;

fn psql_select_1(cluster: &PgCluster, db: &str) -> Output {
    let psql = cluster.bin.client_tool("psql").expect("psql not found");
    pg_command(&psql, Path::new("/"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .args([
            "-p",
            &cluster.port().to_string(),
            "-U",
            "postgres",
            "-d",
            db,
        ])
        .args(["-c", "select 1"])
        .output()
        .expect("cannot run psql")
}

#[test]
fn cluster_creates_isolated_databases_and_stops_on_drop() {
    let started = Instant::now();
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("PgCluster::start() took {:?}", started.elapsed());
    let port = cluster.port();
    let root = cluster.dir.path().to_path_buf();

    let a = cluster.fresh_database().expect("first database");
    let b = cluster.fresh_database().expect("second database");
    assert_ne!(a, b);
    let prefix = format!("postgres://postgres@127.0.0.1:{port}/");
    for url in [&a, &b] {
        let db = url.strip_prefix(&prefix).expect("URL format");
        assert!(
            db.starts_with(&format!("t_{}_", std::process::id())),
            "{url}"
        );
        let out = psql_select_1(&cluster, db);
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    }

    drop(cluster);
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "server still accepts connections after drop"
    );
    assert!(!root.exists(), "{} not removed", root.display());
}

#[test]
fn shared_cluster_is_reused() {
    let first = shared_pg();
    let second = shared_pg();
    assert!(std::ptr::eq(first, second));
    let url = first.fresh_database().expect("database on shared cluster");
    assert!(url.starts_with(&format!("postgres://postgres@127.0.0.1:{}/", first.port())));
}

#[test]
fn free_port_is_bindable() {
    // A port handed out by `free_port` can be grabbed by any concurrent
    // connect() as its ephemeral port (the other tests here connect to
    // PostgreSQL), so a single rebind may legitimately fail; three may not.
    let bound = (0..3).any(|_| {
        let port = free_port();
        port != 0 && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
    });
    assert!(
        bound,
        "no port returned by free_port() could be bound again"
    );
}

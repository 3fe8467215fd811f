//! Tests of loading the configuration: the layers, and errors naming the key.

use std::path::Path;

use super::{ConfigError, Settings};

/// A configuration directory holding `default.toml` and, if given, `local.toml`.
fn config_dir(default: &str, local: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("default.toml"), default).unwrap();
    if let Some(local) = local {
        std::fs::write(dir.path().join("local.toml"), local).unwrap();
    }
    dir
}

fn load(dir: &Path) -> Result<Settings, ConfigError> {
    Settings::load(Some(dir))
}

#[test]
fn the_embedded_defaults_are_valid() {
    let dir = config_dir("", None);
    let settings = load(dir.path()).unwrap();
    assert!(settings.database.url.starts_with("sqlite://"));
    assert!(settings.http.ops_addr.ip().is_loopback());
    assert!(settings.ops_token().is_none());
    assert!(settings.telegram_token().is_none());
    assert!(settings.nodes().unwrap().is_empty());
    settings.plans().unwrap();
}

#[test]
fn an_explicit_directory_needs_its_default_toml() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("default.toml"), "{err}");
}

#[test]
fn local_toml_wins_over_default_toml() {
    let dir = config_dir("[trial]\ndays = 5\n", Some("[trial]\ndays = 7\n"));
    assert_eq!(load(dir.path()).unwrap().trial.days, 7);
    let dir = config_dir("[trial]\ndays = 5\n", None);
    assert_eq!(load(dir.path()).unwrap().trial.days, 5);
}

#[test]
fn an_invalid_value_names_its_key() {
    let dir = config_dir("[http]\nops_addr = \"0.0.0.0:9090\"\n", None);
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid { key, .. } if key == "ops.token"),
        "{err}"
    );

    let dir = config_dir("[trial]\ndays = 400\n", None);
    let err = load(dir.path()).unwrap_err();
    assert_eq!(err.to_string(), "trial.days: must be 0..=365");
}

#[test]
fn unknown_keys_are_refused() {
    let dir = config_dir("[trial]\ndayz = 1\n", None);
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("dayz"), "{err}");
}

#[test]
fn the_lease_must_outlast_two_renewal_intervals() {
    let dir = config_dir(
        "[cluster]\nleader_interval = \"5s\"\nleader_lease = \"8s\"\n",
        None,
    );
    let err = load(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cluster.leader_lease: must be at least twice cluster.leader_interval"
    );
    // The defaults: failover within 15 s + 5 s.
    let dir = config_dir("", None);
    let policy = load(dir.path()).unwrap().lease_policy();
    assert_eq!(policy.worst_failover(), std::time::Duration::from_secs(20));
}

#[test]
fn subscription_extras_load_from_toml() {
    let dir = config_dir(
        "[subscription]\nannounce = { en = \"Hi\", ru = \"Привет\" }\ninfo_entries = true\n\
         [telegram]\nsupport = \"@vpn_help\"\n",
        Some("[subscription]\nrenew_url = \"https://t.me/vpn_bot\"\n"),
    );
    let settings = load(dir.path()).unwrap();
    let options = settings.subscription_options(subvisor_http::BotName::default());
    assert_eq!(options.announce.for_language("ru"), Some("Привет"));
    assert_eq!(options.announce.for_language("de"), Some("Hi"));
    assert!(options.info_entries);
    assert_eq!(
        options.support_url.as_deref(),
        Some("https://t.me/vpn_help")
    );
    assert_eq!(options.renew_url().as_deref(), Some("https://t.me/vpn_bot"));

    let dir = config_dir("[subscription]\nannounce = \"Maintenance\"\n", None);
    let options = load(dir.path())
        .unwrap()
        .subscription_options(subvisor_http::BotName::default());
    assert_eq!(options.announce.for_language("ru"), Some("Maintenance"));
    assert_eq!(options.support_url, None);

    let dir = config_dir("[subscription]\nrenew_url = \"t.me/bot\"\n", None);
    let err = load(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "subscription.renew_url: must be an http:// or https:// URL"
    );
}

#[test]
fn auto_renew_before_is_validated() {
    let dir = config_dir("", None);
    let settings = load(dir.path()).unwrap();
    assert!(settings.auto_renew.enabled);
    assert_eq!(
        settings.auto_renew.before,
        std::time::Duration::from_secs(24 * 3600)
    );

    let dir = config_dir("[auto_renew]\nbefore = \"10s\"\n", None);
    let err = load(dir.path()).unwrap_err();
    assert_eq!(err.to_string(), "auto_renew.before: must be at least 1m");

    let dir = config_dir("[auto_renew]\nbefore = \"30d\"\n", None);
    let err = load(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "auto_renew.before: must be shorter than the shortest plan (month: 30 days)"
    );

    // Off: nothing to check.
    let dir = config_dir("[auto_renew]\nenabled = false\nbefore = \"30d\"\n", None);
    assert!(!load(dir.path()).unwrap().auto_renew.enabled);
}

#[test]
fn traffic_plans_and_packs_load_and_bad_ones_name_their_key() {
    use subvisor_actors::domain::{PlanId, TrafficReset};
    let plan = |extra: &str| {
        format!("[[plans]]\nid = \"lite\"\ntitle = \"Lite\"\ndays = 30\nstars = 10\n{extra}\n")
    };
    let pack = |extra: &str| format!("[[traffic_packs]]\ntitle = \"More\"\nstars = 5\n{extra}\n");
    let ok = format!(
        "{}{}",
        plan("traffic_gb = 1.5\ntraffic_reset = \"month\""),
        pack("id = \"more\"\nbytes = 300000")
    );
    let dir = config_dir(&ok, None);
    let settings = load(dir.path()).unwrap();
    let plans = settings.plans().unwrap();
    let lite = plans.get(&PlanId::new("lite").unwrap()).unwrap();
    let allowance = lite.traffic.unwrap();
    assert_eq!(allowance.bytes, 1_500_000_000);
    assert_eq!(allowance.reset, TrafficReset::Month);
    let packs = settings.traffic_packs().unwrap();
    assert_eq!(
        packs.get(&PlanId::new("more").unwrap()).unwrap().bytes,
        300_000
    );

    for (toml, key) in [
        (
            plan("traffic_gb = 1\ntraffic_bytes = 5"),
            "plans[0].traffic_gb",
        ),
        (plan("traffic_reset = \"day\""), "plans[0].traffic_reset"),
        (plan("traffic_gb = -2"), "plans[0].traffic_gb"),
        (plan("traffic_bytes = 0"), "plans[0].traffic_bytes"),
        (
            format!("{}{}", plan(""), pack("id = \"lite\"\ngb = 1")),
            "traffic_packs[0].id",
        ),
        (
            format!("{}{}", plan(""), pack("id = \"more\"")),
            "traffic_packs[0].gb",
        ),
    ] {
        let dir = config_dir(&toml, None);
        let err = load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key: k, .. } if k == key),
            "{toml}: {err}"
        );
    }
    let dir = config_dir(&plan("traffic_reset = \"hourly\""), None);
    assert!(
        load(dir.path()).is_err(),
        "an unknown reset rule is refused"
    );
}

//! Loading: the embedded defaults, `<dir>/default.toml`, `<dir>/local.toml`
//! and `SUBVISOR__SECTION__KEY` environment overrides, later layers winning.

use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};

use super::{ConfigError, Settings};

/// The repository's `config/default.toml`, compiled in so the binary runs anywhere.
const EMBEDDED_DEFAULTS: &str = include_str!("../../config/default.toml");

impl Settings {
    /// Loads and validates the configuration. `dir` is `--config DIR` (its
    /// `default.toml` must then exist) or `None` for `./config` (optional:
    /// the embedded defaults are used without it).
    pub fn load(dir: Option<&Path>) -> Result<Self, ConfigError> {
        let (dir, explicit) = match dir {
            Some(d) => (d.to_path_buf(), true),
            None => (PathBuf::from("config"), false),
        };
        let raw = Config::builder()
            .add_source(File::from_str(EMBEDDED_DEFAULTS, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(explicit))
            .add_source(File::from(dir.join("local.toml")).required(false))
            .add_source(
                Environment::with_prefix("SUBVISOR")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // Lists from the environment: comma-separated.
                    .list_separator(",")
                    .with_list_parse_key("http.trusted_proxies")
                    .with_list_parse_key("telegram.admins")
                    .with_list_parse_key("telegram.topup_amounts_minor"),
            )
            .build()?;
        let settings: Settings = raw.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }
}

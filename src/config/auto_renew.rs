//! `[auto_renew]`: renewal of opted-in subscriptions from the balance.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, PlanSettings, invalid};

/// `[auto_renew]`: users who opt in (bot, "My subscription") have their
/// plan bought again from the balance `before` their subscription expires;
/// a balance that cannot pay gets them one reminder per period.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoRenewSettings {
    /// Off: no toggle in the bot, nothing renewed.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// How long before expiry the renewal is bought.
    #[serde(default = "before", with = "humantime_serde")]
    pub before: Duration,
}

fn enabled() -> bool {
    true
}

fn before() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl Default for AutoRenewSettings {
    fn default() -> Self {
        Self {
            enabled: enabled(),
            before: before(),
        }
    }
}

impl AutoRenewSettings {
    /// `before` is at least a minute and shorter than every plan: a renewal
    /// must move the expiry out of the window, or the next pass would renew
    /// the new period at once.
    pub(super) fn validate(&self, plans: &[PlanSettings]) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.before < Duration::from_secs(60) {
            return Err(invalid("auto_renew.before", "must be at least 1m"));
        }
        if let Some(shortest) = plans.iter().min_by_key(|p| p.days) {
            let period = Duration::from_secs(u64::from(shortest.days) * 24 * 3600);
            if self.before >= period {
                return Err(invalid(
                    "auto_renew.before",
                    format!(
                        "must be shorter than the shortest plan ({}: {} days)",
                        shortest.id, shortest.days
                    ),
                ));
            }
        }
        Ok(())
    }
}

//! Warnings: settings that load and run but are probably not what the
//! operator wants (`subvisor check-config` prints them; they never fail it).

use std::net::IpAddr;

use super::Settings;

impl Settings {
    /// What looks wrong but is allowed, one line each, naming the key.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let serves_users = !self.nodes.is_empty() || self.telegram_token().is_some();
        if serves_users && is_loopback_url(&self.subscription.public_url) {
            out.push(format!(
                "subscription.public_url is {}: subscription links sent to users point at \
                 this machine's loopback and will not open on their devices; set it to the \
                 public https URL of this service",
                self.subscription.public_url
            ));
        }
        out
    }
}

/// Whether `url`'s host is this machine only (loopback, `localhost`, or the
/// unspecified address).
fn is_loopback_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_url;

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3/",
            "http://localhost:8080",
            "https://LOCALHOST./x",
            "http://app.localhost",
            "http://[::1]:8080",
            "http://0.0.0.0:8080",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://vpn.example.com",
            "http://10.0.0.1:8080",
            "https://localhost.example.com",
            "http://[2001:db8::1]/",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }
}

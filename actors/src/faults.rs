//! Fault injection for crash tests of the payment intake: a hook asked at each
//! step, which may stop the work right there as a crash would.
//!
//! Tests in one process give the [`Intake`](crate::payments::Intake) a hook of
//! their own. The real binary reads `SUBVISOR_FAULTS` only when built with the
//! `fault-injection` feature (the test suite enables it; release builds never
//! do): `SUBVISOR_FAULTS=before_apply=hang` makes the process stop working at
//! that step (a log line says so) so a test can `kill -9` it there;
//! `=abort` aborts the process on the spot.
//!
//! The same feature lets a test make a user actor's store work panic
//! ([`panic_in_next_store_work`]), to exercise the actor's re-raise and the
//! Registry's restart.

use std::fmt;
use std::sync::Arc;

/// The steps of the intake where a crash can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// The event is stored; nothing else happened.
    AfterRecord,
    /// Processing starts (in the bot or a request, after the event was stored).
    BeforeApply,
    /// The user's actor committed the payment; the outcome is not stored.
    AfterApply,
    /// Everything is done but the event is not marked finished.
    BeforeOutcome,
}

impl FaultPoint {
    pub const ALL: [FaultPoint; 4] = [
        FaultPoint::AfterRecord,
        FaultPoint::BeforeApply,
        FaultPoint::AfterApply,
        FaultPoint::BeforeOutcome,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultPoint::AfterRecord => "after_record",
            FaultPoint::BeforeApply => "before_apply",
            FaultPoint::AfterApply => "after_apply",
            FaultPoint::BeforeOutcome => "before_outcome",
        }
    }
}

impl fmt::Display for FaultPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Asked at every [`FaultPoint`]; `true` stops the work there (nothing more
/// is written, as if the process died).
pub trait FaultHook: Send + Sync + 'static {
    fn crash_at(&self, point: FaultPoint, event_id: &str) -> bool;
}

/// The hook named by `SUBVISOR_FAULTS`, when the binary was built with the
/// `fault-injection` feature; `None` otherwise.
pub fn from_env() -> Option<Arc<dyn FaultHook>> {
    #[cfg(feature = "fault-injection")]
    {
        let spec = std::env::var("SUBVISOR_FAULTS").ok()?;
        let hook = EnvFaults::parse(&spec);
        if hook.is_none() {
            tracing::error!(%spec, "SUBVISOR_FAULTS not understood (expected e.g. before_apply=hang)");
        }
        hook.map(|h| Arc::new(h) as Arc<dyn FaultHook>)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        None
    }
}

#[cfg(feature = "fault-injection")]
struct EnvFaults {
    point: FaultPoint,
    abort: bool,
}

#[cfg(feature = "fault-injection")]
impl EnvFaults {
    fn parse(spec: &str) -> Option<Self> {
        let (point, action) = spec.trim().split_once('=')?;
        let point = FaultPoint::ALL
            .into_iter()
            .find(|p| p.as_str() == point.trim())?;
        let abort = match action.trim() {
            "abort" => true,
            "hang" => false,
            _ => return None,
        };
        Some(Self { point, abort })
    }
}

#[cfg(feature = "fault-injection")]
impl FaultHook for EnvFaults {
    fn crash_at(&self, point: FaultPoint, event_id: &str) -> bool {
        if point != self.point {
            return false;
        }
        tracing::error!(%point, event = %event_id, abort = self.abort, "fault injected");
        if self.abort {
            std::process::abort();
        }
        // "Hang": this event goes no further in this process.
        true
    }
}

/// Users whose next store work panics (see [`panic_in_next_store_work`]).
#[cfg(feature = "fault-injection")]
static STORE_WORK_PANICS: std::sync::Mutex<Vec<crate::domain::UserId>> =
    std::sync::Mutex::new(Vec::new());

/// Makes the store work of the next message to `user`'s actor panic where it
/// runs (spawned on the main runtime, the store's transaction about to be
/// opened), as a bug in the store code would. The actor re-raises the panic
/// and dies; the Registry re-activates it on the following message. One
/// shot per call; process-wide, so tests use users of their own.
#[cfg(feature = "fault-injection")]
pub fn panic_in_next_store_work(user: crate::domain::UserId) {
    STORE_WORK_PANICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(user);
}

/// Called by the actor's store work: panics once for each
/// [`panic_in_next_store_work`] of `user`.
#[cfg(feature = "fault-injection")]
pub(crate) fn store_work(user: crate::domain::UserId) {
    let armed = {
        let mut users = STORE_WORK_PANICS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        users
            .iter()
            .position(|u| *u == user)
            .map(|i| users.swap_remove(i))
            .is_some()
    };
    if armed {
        panic!("injected panic in the store work of user {user}");
    }
}

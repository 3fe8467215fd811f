//! Measuring in the reconcile bench: one timed pass with its memory and CPU,
//! the best of a few runs of a part of a pass, and the pass's diff replicated.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use subvisor_actors::domain::{NodeName, parse_key_email};
use subvisor_actors::provisioning::{NodeDiff, Reconciler};
use subvisor_testkit::bench::{Mem, ProcessCpu, mib, ms};
use uuid::Uuid;

/// One pass of `Reconciler::pass(Some(node), true, dry_run)`, timed, with memory.
pub(crate) async fn measured_pass(
    reconciler: &Reconciler,
    node: &NodeName,
    dry_run: bool,
    label: &str,
) -> Option<(NodeDiff, Duration)> {
    let before = Mem::read();
    let reset = Mem::reset_peak();
    let cpu = ProcessCpu::take();
    let t = Instant::now();
    let result = reconciler.pass(Some(node.clone()), true, dry_run).await;
    let took = t.elapsed();
    let cpu = ProcessCpu::take().since(&cpu);
    let after = Mem::read();
    let diff = match result {
        Ok(mut diffs) if diffs.len() == 1 => diffs.remove(0),
        other => {
            println!("{label}: unexpected result {other:?}");
            return None;
        }
    };
    println!(
        "{label:<11}: {:>7.1} ms wall | desired {} actual {} missing {} extra {} mismatched {} fixed {} failed {} duration_ms {}{}",
        ms(took),
        diff.desired,
        diff.actual.map_or_else(|| "-".into(), |a| a.to_string()),
        diff.missing,
        diff.extra,
        diff.mismatched,
        diff.fixed,
        diff.failed,
        diff.duration_ms,
        diff.error
            .as_ref()
            .map_or_else(String::new, |e| format!(" ERROR {e}")),
    );
    println!(
        "{:<11}  memory: VmRSS {:.1} → {:.1} MiB ({:+.1} MiB), peak during the pass {} ({:+.1} MiB over the RSS before)",
        "",
        mib(before.rss_kib),
        mib(after.rss_kib),
        mib(after.rss_kib - before.rss_kib),
        if reset {
            format!("{:.1} MiB", mib(after.hwm_kib))
        } else {
            format!(
                "{:.1} MiB (process-wide: peak reset unavailable)",
                mib(after.hwm_kib)
            )
        },
        mib(after.hwm_kib - before.rss_kib),
    );
    println!("{:<11}  CPU: {cpu}", "");
    Some((diff, took))
}

/// The Reconciler's diff (its `plan` is private), for the breakdown: the same
/// maps and lookups, on owned inputs. Returns how many changes it found.
pub(crate) fn replicated_plan(desired: Vec<(String, Uuid)>, actual: Vec<(String, Uuid)>) -> usize {
    let desired: HashMap<String, (String, Uuid)> = desired
        .into_iter()
        .map(|(email, uuid)| (email.to_ascii_lowercase(), (email, uuid)))
        .collect();
    let mut removes = Vec::new();
    let mut present: HashMap<String, Uuid> = HashMap::with_capacity(actual.len());
    for (email, uuid) in actual {
        let lower = email.to_ascii_lowercase();
        match desired.get(&lower) {
            Some((_, want)) if *want == uuid => {
                present.insert(lower, uuid);
            }
            Some(_) => removes.push(email),
            None if parse_key_email(&email).is_some() => removes.push(email),
            None => {}
        }
    }
    let adds: Vec<(String, Uuid)> = desired
        .iter()
        .filter(|(lower, _)| !present.contains_key(*lower))
        .map(|(_, (email, uuid))| (email.clone(), *uuid))
        .collect();
    removes.len() + adds.len()
}

/// Best wall time of `runs` runs of `f` with that run's CPU time, the worst
/// peak RSS over the RSS before a run (KiB), and the last run's output.
pub(crate) async fn best_of<F, Fut>(runs: usize, f: F) -> (Duration, Duration, i64, usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut best = (Duration::MAX, Duration::ZERO);
    let mut peak = 0;
    let mut out = 0;
    for _ in 0..runs {
        let before = Mem::read();
        Mem::reset_peak();
        let cpu = ProcessCpu::take();
        let t = Instant::now();
        out = f().await;
        let took = t.elapsed();
        let cpu = ProcessCpu::take().since(&cpu);
        if took < best.0 {
            best = (took, cpu.user + cpu.sys);
        }
        peak = peak.max(Mem::read().hwm_kib - before.rss_kib);
    }
    (best.0, best.1, peak, out)
}

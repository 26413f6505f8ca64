//! `events` (issue 17): what the event stream and the metrics subscriber cost a request.
//!
//! In process, two cores on fresh embedded stores with 1,000 KV v2 secrets each: one with
//! the metrics subscriber started (every request builds and publishes an event, the metrics
//! task records it), one with nobody subscribed (nothing is built). KV v2 reads and durable
//! writes by 16 tasks for 1 s on each, alternating which goes first, five trials; the median
//! of (observed ÷ plain) is printed. In process there is no HTTP around the request, so the
//! ratio is the worst case: behind the server's HTTP layer the same cost is a smaller share.

use std::sync::Arc;

use anyhow::Result;
use coffre_core::ManualClock;
use serde_json::{Value, json};

use crate::scheduler::{fresh, kv_rate, median, populate};

const TRIALS: usize = 5;
const TRIAL_SECS: f64 = 1.0;

pub async fn events() -> Result<Value> {
    let clock = ManualClock::at(1_900_000_000);
    let (dir_plain, dir_observed) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (plain, root_plain) = fresh(dir_plain.path(), &clock).await?;
    let (observed, root_observed) = fresh(dir_observed.path(), &clock).await?;
    observed.events().start_metrics();
    let (plain, observed) = (Arc::new(plain), Arc::new(observed));
    populate(&plain, &root_plain, 1_000, 0).await?;
    populate(&observed, &root_observed, 1_000, 0).await?;

    println!(
        "## events (in process, embedded store, 16 tasks; median of {TRIALS} alternating 1 s trials)"
    );
    println!(
        "{:>12} {:>14} {:>14} {:>10}",
        "", "plain op/s", "observed op/s", "ratio"
    );
    let mut rows = Vec::new();
    for write in [false, true] {
        let (mut ratios, mut plain_rates, mut observed_rates) =
            (Vec::new(), Vec::new(), Vec::new());
        for trial in 0..TRIALS {
            let tag = format!("e{}{trial}", u8::from(write));
            let (p, o) = if trial % 2 == 0 {
                let p = kv_rate(&plain, &root_plain, write, TRIAL_SECS, &tag).await?;
                let o = kv_rate(&observed, &root_observed, write, TRIAL_SECS, &tag).await?;
                (p, o)
            } else {
                let o = kv_rate(&observed, &root_observed, write, TRIAL_SECS, &tag).await?;
                let p = kv_rate(&plain, &root_plain, write, TRIAL_SECS, &tag).await?;
                (p, o)
            };
            ratios.push(o / p);
            plain_rates.push(p);
            observed_rates.push(o);
        }
        let (ratio, p, o) = (
            median(&mut ratios),
            median(&mut plain_rates),
            median(&mut observed_rates),
        );
        let name = if write { "kv-v2 write" } else { "kv-v2 read" };
        println!("{name:>12} {p:>14.0} {o:>14.0} {ratio:>9.3}x");
        rows.push(json!({
            "scenario": name,
            "plain_per_sec_median": p,
            "observed_per_sec_median": o,
            "ratio_median": ratio,
            "trials": TRIALS,
            "trial_secs": TRIAL_SECS,
        }));
    }
    let dropped = observed.events().dropped();
    println!("events dropped by the metrics subscriber: {dropped:?}");
    println!();
    plain.shutdown().await;
    observed.shutdown().await;
    Ok(json!({ "results": rows, "dropped": dropped }))
}

//! Process hardening at start-up: no core dumps (they would contain key material).

/// Disables core dumps and marks the process non-dumpable. Failures are logged, not fatal:
/// some sandboxes forbid these calls.
pub fn disable_core_dumps() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let zero = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(e) = setrlimit(Resource::Core, zero) {
        tracing::warn!(error = %e, "could not disable core dumps (RLIMIT_CORE)");
    }
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!(error = %e, "could not mark the process non-dumpable");
    }
}

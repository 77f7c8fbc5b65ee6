//! Whether the coordinator's store still writes. After one I/O error (a full or failing
//! disk) sled fails every later write until the process opens it again, so a coordinator
//! whose store failed keeps running jobs it can no longer checkpoint: output stalls for good.
//! A probe writes and flushes a small record every second on a blocking thread; when it
//! fails, [`crate::Coordinator::store_failure`] resolves and `quiver coordinator` exits with
//! the cause, for its supervisor to restart it on its data once the disk is healthy.

use std::time::Duration;
use tokio::sync::watch;

/// How often the store is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// The probe's record.
const PROBE_KEY: &[u8] = b"health-probe";

/// Probes `db` until a write fails, then sends why on `failed`.
pub(crate) async fn watch_store(db: sled::Db, failed: watch::Sender<Option<String>>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tick.tick().await;
        let db = db.clone();
        let probe = tokio::task::spawn_blocking(move || {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            db.insert(PROBE_KEY, &now.to_be_bytes())?;
            db.flush().map(drop)
        })
        .await;
        let why = match probe {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the probe did not finish: {e}"),
        };
        tracing::error!("the coordinator's store cannot write: {why}");
        let _ = failed.send(Some(why));
        return;
    }
}

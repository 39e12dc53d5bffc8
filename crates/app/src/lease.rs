//! Job leases: several nodes on one database run each background job once. A lease is a
//! row with an expiry, so a node that dies mid-job frees it when the expiry passes.

use crate::{App, Result};

impl App {
    /// Takes or renews the lease on `job` for `holder` for `ttl` seconds; false when
    /// another holder has an unexpired one.
    pub async fn take_lease(&self, job: &str, holder: &str, ttl: i64) -> Result<bool> {
        let now = crate::now();
        Ok(self.store.take_lease(job, holder, now, now + ttl).await?)
    }

    /// Gives `holder`'s lease on `job` up.
    pub async fn release_lease(&self, job: &str, holder: &str) -> Result<()> {
        Ok(self.store.release_lease(job, holder).await?)
    }
}

//! Running and stopping: [`Application::run_until`] serves until a shutdown
//! future resolves (or a listener fails), then stops in order — listeners
//! (finishing in-flight requests), background workers, actors, the pool.
//! [`shutdown_signal`] is that future for SIGINT/SIGTERM.

use std::future::Future;
use std::time::Duration;

use super::{ACTOR_DRAIN, Application, POOL_CLOSE};

impl Application {
    /// Serves until `shutdown` resolves (or a listener fails), then stops
    /// gracefully: listeners stop accepting and finish in-flight requests,
    /// background workers stop, in-flight actor messages finish, the pool closes.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let public = self.public_server.handle();
        let ops = self.ops_server.handle();
        let mut public_task = actix_web::rt::spawn(self.public_server);
        let mut ops_task = actix_web::rt::spawn(self.ops_server);
        let failed = tokio::select! {
            () = shutdown => None,
            r = &mut public_task => Some(("public", r)),
            r = &mut ops_task => Some(("ops", r)),
        };
        if let Some((which, result)) = &failed {
            tracing::error!(
                listener = which,
                ?result,
                "a listener stopped unexpectedly; shutting down"
            );
        } else {
            tracing::info!("shutting down");
        }
        tokio::join!(public.stop(true), ops.stop(true));
        let _ = self.stop_workers.send(true);
        for worker in self.workers {
            if tokio::time::timeout(Duration::from_secs(2), worker)
                .await
                .is_err()
            {
                tracing::warn!("a background worker did not stop in time");
            }
        }
        if !self.registry.shutdown(ACTOR_DRAIN).await {
            tracing::warn!("some actor messages were still in flight at shutdown");
        }
        if tokio::time::timeout(POOL_CLOSE, self.store.close())
            .await
            .is_err()
        {
            tracing::warn!("database pool did not close in time");
        }
        tracing::info!("stopped");
        match failed {
            Some((which, _)) => anyhow::bail!("the {which} listener stopped unexpectedly"),
            None => Ok(()),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

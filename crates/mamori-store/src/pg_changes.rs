//! Changes made through one node, announced to the others at once.
//!
//! Nodes keep what they read often — policies, reference values, signing
//! keys, sealed resources — and re-read it on a 5 s timer. An admin change
//! on PostgreSQL is therefore followed by `NOTIFY`, and every node keeps one
//! connection that `LISTEN`s and wakes its re-read as soon as another node
//! changed something. The timer stays: a notification can be lost (the
//! listening connection dropped; it reconnects, and a reconnect counts as a
//! change, since something may have changed meanwhile). The notification
//! carries the schema the change was made in, so that deployments sharing
//! one database in different schemas do not wake each other.

use std::future::poll_fn;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, Socket};

/// The channel the nodes notify and listen on.
pub(crate) const CHANNEL: &str = "mamori_changes";
/// Wait before connecting again after the listening connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Keeps a listening connection up for as long as the store lives (`alive`
/// upgrades); each notification (or reconnect) bumps `changes`.
pub(crate) fn spawn_listener<T>(
    cfg: tokio_postgres::Config,
    tls: T,
    changes: watch::Sender<u64>,
    alive: Weak<()>,
) where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<Socket>>::Future: Send,
{
    tokio::spawn(async move {
        let mut first = true;
        while alive.strong_count() > 0 {
            if let Err(e) = listen(&cfg, tls.clone(), &changes, &alive, first).await {
                tracing::warn!(error = %crate::error::with_causes(&e), "listening for other nodes' changes failed; reconnecting");
            }
            first = false;
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    });
}

/// One listening connection, until it fails or the store is gone.
async fn listen<T>(
    cfg: &tokio_postgres::Config,
    tls: T,
    changes: &watch::Sender<u64>,
    alive: &Weak<()>,
    first: bool,
) -> Result<(), tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket> + Send + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = cfg.connect(tls).await?;
    let (notified, mut messages) = tokio::sync::mpsc::unbounded_channel();
    // The connection does the I/O; its messages come back here.
    let driver = tokio::spawn(async move {
        while let Some(m) = poll_fn(|cx| connection.poll_message(cx)).await {
            let end = m.is_err();
            if notified.send(m).is_err() || end {
                break;
            }
        }
    });
    let result = async {
        let schema: Option<String> = client
            .query_one("SELECT current_schema()", &[])
            .await?
            .try_get(0)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        let ours = |payload: &str| Some(payload) == schema.as_deref();
        if !first {
            // Whatever was announced while no connection listened.
            changes.send_modify(|n| *n += 1);
        }
        let mut check = tokio::time::interval(RECONNECT_AFTER);
        loop {
            tokio::select! {
                m = messages.recv() => match m {
                    Some(Ok(AsyncMessage::Notification(n))) if ours(n.payload()) => {
                        changes.send_modify(|n| *n += 1);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
                _ = check.tick() => if alive.strong_count() == 0 {
                    return Ok(());
                },
            }
        }
    }
    .await;
    driver.abort();
    result
}

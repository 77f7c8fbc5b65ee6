//! The queue of messages waiting to be written on a control stream: bounded, so a peer that
//! stops reading (frozen, faulty or hostile) cannot grow the writer's memory. A message that
//! finds the queue full is not queued; it raises the alarm instead, and the session that
//! watches it ends as a broken control stream would (the coordinator declares such a node
//! lost; a node drops such a coordinator and joins again). Sending never waits, so it can be
//! done under a lock or from a loop that must keep reading.

use std::sync::Arc;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::Notify;

/// The sending side of a control stream's queue.
#[derive(Debug)]
pub struct Outbox<T> {
    messages: mpsc::Sender<T>,
    overflow: Arc<Notify>,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Outbox {
            messages: self.messages.clone(),
            overflow: self.overflow.clone(),
        }
    }
}

/// The writer's side: the queued messages, and the overflow alarm.
#[derive(Debug)]
pub struct Inbox<T> {
    /// The queued messages, in order.
    pub messages: mpsc::Receiver<T>,
    /// Notified when a message found the queue full.
    pub overflow: Arc<Notify>,
}

impl<T> Outbox<T> {
    /// A queue of `capacity` messages.
    pub fn new(capacity: usize) -> (Outbox<T>, Inbox<T>) {
        let (messages, receiver) = mpsc::channel(capacity);
        let overflow = Arc::new(Notify::new());
        let inbox = Inbox {
            messages: receiver,
            overflow: overflow.clone(),
        };
        (Outbox { messages, overflow }, inbox)
    }

    /// Queues a message; on a full queue it raises the overflow alarm instead (a closed
    /// queue means the session already ended: the message has nowhere to go).
    pub fn send(&self, message: T) {
        if let Err(TrySendError::Full(_)) = self.messages.try_send(message) {
            self.overflow.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ToNode;

    #[tokio::test]
    async fn a_peer_that_reads_nothing_raises_the_alarm_once_its_queue_is_full() {
        let (outbox, mut inbox) = Outbox::new(2);
        outbox.send(ToNode::Heartbeat);
        outbox.send(ToNode::Heartbeat);
        let quiet = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            inbox.overflow.notified(),
        );
        assert!(quiet.await.is_err(), "two messages fit");
        outbox.send(ToNode::Heartbeat);
        inbox.overflow.notified().await;
        let mut queued = 0;
        while inbox.messages.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, 2, "the third message was not queued");
    }
}

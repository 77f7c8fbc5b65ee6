//! The sending end of a channel: to a task on this node through its mailbox, or to a task on
//! another node over a QUIC stream. Both spend one credit per element and wait without one.

use super::credit::{ChannelGauge, Credit};
use super::metrics::TaskCounters;
use super::task::TaskMsg;
use super::RuntimeError;
use crate::operator::OperatorError;
use quiver_protocol::codec;
use quiver_protocol::messages::ChannelReply;
use quiver_protocol::StreamElement;
use ractor::ActorRef;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// The sending end of one channel.
pub(crate) enum ChannelSender {
    /// To a task on this node.
    Local {
        /// The receiving task.
        actor: ActorRef<TaskMsg>,
        /// Our input index at the receiver.
        input: usize,
        /// Credits: permits travel with elements and come back when processed.
        credits: Arc<Semaphore>,
        /// The receiver's gauge of this channel.
        gauge: Arc<ChannelGauge>,
        /// The sending task's counters (time waiting for credit).
        counters: Arc<TaskCounters>,
    },
    /// To a task on another node.
    Remote(RemoteSender),
}

impl ChannelSender {
    /// A same-node channel into `actor`'s input `input`.
    /// `counters` are the sending task's.
    pub(crate) fn local(
        actor: ActorRef<TaskMsg>,
        input: usize,
        gauge: Arc<ChannelGauge>,
        counters: Arc<TaskCounters>,
    ) -> Self {
        ChannelSender::Local {
            actor,
            input,
            credits: Arc::new(Semaphore::new(super::credit::CHANNEL_CREDITS as usize)),
            gauge,
            counters,
        }
    }

    /// Sends one element, waiting for a credit first.
    #[cfg(test)]
    pub(crate) async fn send(&mut self, element: StreamElement) -> Result<(), RuntimeError> {
        self.send_all([element]).await
    }

    /// Sends elements in order, each with a credit, waiting for credits as they run out. To
    /// another node, the elements that have credits go out in one write.
    pub(crate) async fn send_all(
        &mut self,
        elements: impl IntoIterator<Item = StreamElement>,
    ) -> Result<(), RuntimeError> {
        match self {
            ChannelSender::Local {
                actor,
                input,
                credits,
                gauge,
                counters,
            } => {
                for element in elements {
                    let permit = match credits.clone().try_acquire_owned() {
                        Ok(permit) => permit,
                        Err(_) => {
                            let waited = Instant::now();
                            let permit = credits.clone().acquire_owned().await.map_err(|_| {
                                RuntimeError::ChannelClosed("local channel closed".into())
                            })?;
                            counters.waited_for_credit(waited.elapsed());
                            permit
                        }
                    };
                    let credit = Credit::local(gauge.clone(), permit);
                    actor
                        .send_message(TaskMsg::Input {
                            input: *input,
                            element,
                            credit,
                        })
                        .map_err(|_| {
                            RuntimeError::ChannelClosed("the receiving task has stopped".into())
                        })?;
                }
                Ok(())
            }
            ChannelSender::Remote(remote) => remote.send_all(elements).await,
        }
    }
}

/// The sending end of a channel to another node: a QUIC stream and the credits its receiver
/// granted (read from the stream's other direction by a background task).
pub(crate) struct RemoteSender {
    stream: quinn::SendStream,
    credits: Arc<Semaphore>,
    buffer: Vec<u8>,
    counters: Arc<TaskCounters>,
    /// Whether the channel's end was sent (the stream finished).
    ended: bool,
}

/// The code a channel's stream is reset with when its sending task stops before the channel's
/// end (it failed, or it was cancelled). The receiving task then stops reading that input
/// without failing on its own: the sender's failure, which its node reports, is the one the
/// coordinator should hear — not a "channel broke" from every task downstream of it, which
/// could reach the coordinator first and hide the cause.
pub(crate) const SENDER_STOPPED: u32 = 1;

/// Whether `error`, read from a channel, is the reset of a sender that stopped.
pub(crate) fn sender_stopped(error: &codec::CodecError) -> bool {
    let codec::CodecError::Io(io) = error else {
        return false;
    };
    let reset = quinn::ReadError::Reset(quinn::VarInt::from_u32(SENDER_STOPPED));
    io.get_ref()
        .and_then(|inner| inner.downcast_ref::<quinn::ReadError>())
        .is_some_and(|e| *e == reset)
}

#[cfg(test)]
impl RemoteSender {
    /// Finishes the stream without the channel's end, as a sender that lost track of it.
    pub(crate) fn finish_without_end(mut self) {
        let _ = self.stream.finish();
        self.ended = true;
    }
}

impl Drop for RemoteSender {
    fn drop(&mut self) {
        if !self.ended {
            // Dropped, quinn would finish the stream: the receiver could not tell it from a
            // sender that lost track of the channel's end.
            let _ = self.stream.reset(quinn::VarInt::from_u32(SENDER_STOPPED));
        }
    }
}

impl RemoteSender {
    /// Wraps an opened channel stream; spawns the reader of the receiver's credit grants.
    pub(crate) fn new(
        stream: quinn::SendStream,
        mut replies: quinn::RecvStream,
        counters: Arc<TaskCounters>,
    ) -> RemoteSender {
        let credits = Arc::new(Semaphore::new(0));
        let granted = credits.clone();
        tokio::spawn(async move {
            loop {
                match codec::read_frame::<_, ChannelReply>(&mut replies).await {
                    Ok(Some(ChannelReply::Credit(n))) => granted.add_permits(n as usize),
                    Ok(Some(ChannelReply::Refused(why))) => {
                        tracing::error!("channel refused by the receiving node: {why}");
                        break;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("channel credit stream failed: {e}");
                        break;
                    }
                }
            }
            // Wake a sender waiting for credit: it fails instead of hanging.
            granted.close();
        });
        RemoteSender {
            stream,
            credits,
            buffer: Vec::new(),
            counters,
            ended: false,
        }
    }

    /// Sends elements in order, one frame each. The frames that have a credit now are written
    /// together (each write wakes the connection's driver, and each packet costs a system call
    /// and its encryption); without a credit, what is framed goes out first, then the sender
    /// waits, so no element is ever held back while waiting. A batch too large for a frame is
    /// split in halves, each sent as a batch of its own (with its own credit); a single record
    /// too large for a frame fails the task for good.
    async fn send_all(
        &mut self,
        elements: impl IntoIterator<Item = StreamElement>,
    ) -> Result<(), RuntimeError> {
        self.buffer.clear();
        let mut elements = elements.into_iter();
        // Halves of a batch too large for a frame, next one last.
        let mut halves = Vec::new();
        let mut end = false;
        while let Some(element) = halves.pop().or_else(|| elements.next()) {
            let start = codec::start_frame(&mut self.buffer);
            element.encode_into(&mut self.buffer)?;
            match codec::seal_frame(&mut self.buffer, start) {
                Ok(()) => {}
                Err(codec::CodecError::TooLarge { len, max }) => {
                    self.buffer.truncate(start);
                    match element {
                        StreamElement::Records(batch) if batch.len() > 1 => {
                            let half = batch.len() / 2;
                            halves.push(StreamElement::Records(batch.slice(half..batch.len())));
                            halves.push(StreamElement::Records(batch.slice(0..half)));
                            continue;
                        }
                        _ => {
                            return Err(RuntimeError::Operator(OperatorError::Data(format!(
                                "a record of {len} bytes cannot go to another node: a frame \
                             carries at most {max} bytes; keep records smaller (split large \
                             values, or run the stages that read it at the source's \
                             parallelism so it stays on one node)"
                            ))))
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
            let credit_now = self.credits.try_acquire().map(|p| p.forget()).is_ok();
            if !credit_now {
                self.write(start).await?;
                let waited = Instant::now();
                self.credits
                    .acquire()
                    .await
                    .map_err(|_| {
                        RuntimeError::ChannelClosed("the receiving node closed the channel".into())
                    })?
                    .forget();
                self.counters.waited_for_credit(waited.elapsed());
            }
            end |= matches!(element, StreamElement::End);
        }
        self.write(self.buffer.len()).await?;
        if end {
            let _ = self.stream.finish();
            self.ended = true;
        }
        Ok(())
    }

    /// Writes the first `upto` framed bytes and drops them from the buffer.
    async fn write(&mut self, upto: usize) -> Result<(), RuntimeError> {
        if upto == 0 {
            return Ok(());
        }
        self.stream
            .write_all(&self.buffer[..upto])
            .await
            .map_err(|e| codec::CodecError::from(std::io::Error::from(e)))?;
        TaskCounters::add(&self.counters.bytes_sent, upto as u64);
        self.buffer.drain(..upto);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
